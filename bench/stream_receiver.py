"""The streams benchmark's webhook receiver, in a process of its own (so that it does not
share the delivering process's interpreter): verifies every request's Standard Webhooks
signature, parses the batch, and keeps what a test needs to check and time it.

``python -m bench.stream_receiver SECRET PORT_FILE`` listens on a free loopback port,
writes the port to PORT_FILE, and answers ``GET /stats`` with the counts, whether seq
order held, and the lag of every record (arrival minus its ``received_at``) since the
last ``POST /reset``.
"""

import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from standardwebhooks import Webhook


class State:
    def __init__(self, secret):
        self.webhook = Webhook(secret)
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.records = self.batches = self.refused = 0
        self.ids = set()
        self.last_seq = 0
        self.in_order = True
        self.lags = []
        self.first_at = self.last_at = None

    def stats(self):
        lags = sorted(self.lags)

        def pick(share):
            return lags[min(len(lags) - 1, int(share * len(lags)))] if lags else None

        return {
            "records": self.records,
            "unique": len(self.ids),
            "batches": self.batches,
            "refused": self.refused,
            "last_seq": self.last_seq,
            "in_order": self.in_order,
            "seconds": (self.last_at - self.first_at) if self.first_at else 0.0,
            "lag_p50": pick(0.5),
            "lag_p95": pick(0.95),
            "lag_max": lags[-1] if lags else None,
        }


def handler_for(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            with state.lock:
                self.answer(200, orjson.dumps(state.stats()))

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path == "/reset":
                with state.lock:
                    state.reset()
                return self.answer(204, b"")
            try:
                state.webhook.verify(body, dict(self.headers.items()), json_parse=False)
            except Exception as error:
                with state.lock:
                    state.refused += 1
                return self.answer(401, str(error).encode())
            data = orjson.loads(body)["data"]
            now = time.time()
            with state.lock:
                state.first_at = state.first_at or now
                state.last_at = now
                state.batches += 1
                state.records += len(data)
                for record in data:
                    if record["seq"] <= state.last_seq and record["id"] not in state.ids:
                        state.in_order = False
                    state.last_seq = max(state.last_seq, record["seq"])
                    state.ids.add(record["id"])
                    received = datetime.fromisoformat(record["received_at"]).timestamp()
                    state.lags.append(now - received)
            self.answer(204, b"")

        def answer(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def main():
    secret, port_file = sys.argv[1], sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(State(secret)))
    with open(port_file, "w") as handle:
        handle.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
