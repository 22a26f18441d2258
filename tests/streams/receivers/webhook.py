"""A webhook receiver on loopback that verifies each request's Standard Webhooks signature
with the ``standardwebhooks`` package, as a customer's receiver would, and keeps what it
accepted. Faults are injected through ``answers`` (canned replies used first), ``slow``,
``hold`` (block until released) and ``drop`` (close the connection without answering)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from standardwebhooks import Webhook, WebhookVerificationError


class WebhookReceiver:
    def __init__(self, secret=None, path="/hooks/audit"):
        self.secret = secret
        self.path = path
        self.batches = []  # (webhook-id, [record, ...]) in arrival order, verified
        self.raw = []  # (headers, body bytes) of each verified request
        self.refused = []  # why requests were refused
        self.answers = []  # (status, body, headers) to answer before verifying
        self.drop = 0  # close this many connections without an answer
        self.hold = None  # a threading.Event the handler waits for before answering
        self.holding = threading.Event()  # set while a request is held
        self.lock = threading.Lock()
        self.server = None
        self.port = 0

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def records(self):
        """Every record received, in arrival order (repeats included)."""
        with self.lock:
            return [record for _key, batch in self.batches for record in batch]

    def unique_records(self):
        """The records deduplicated by id, keeping the first arrival (as a receiver would)."""
        seen, found = set(), []
        for record in self.records:
            if record["id"] not in seen:
                seen.add(record["id"])
                found.append(record)
        return found

    def start(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                receiver.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        """Stop listening (the port stays known, so ``start`` listens on it again)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.hold is not None:
            self.hold.set()
        self.stop()

    def handle(self, request):
        length = int(request.headers.get("Content-Length", 0))
        body = request.rfile.read(length)
        with self.lock:
            if self.drop:
                self.drop -= 1
                request.close_connection = True
                request.connection.close()
                return
            answer = self.answers.pop(0) if self.answers else None
        if self.hold is not None:
            self.holding.set()
            self.hold.wait()
        if answer is not None:
            return self.reply(request, *answer)
        if request.path != self.path:
            return self.refuse(request, 404, f"no receiver at {request.path}")
        if request.headers.get("Content-Type") != "application/json":
            return self.refuse(request, 400, "content type is not application/json")
        try:
            Webhook(self.secret).verify(body, dict(request.headers.items()))
        except (WebhookVerificationError, ValueError) as error:
            return self.refuse(request, 401, f"signature: {error}")
        payload = orjson.loads(body)
        if payload.get("type") != "audit_log.events" or not isinstance(payload.get("data"), list):
            return self.refuse(request, 400, "not an audit_log.events batch")
        with self.lock:
            self.batches.append((request.headers["webhook-id"], payload["data"]))
            self.raw.append((dict(request.headers.items()), body))
        self.reply(request, 204, b"", {})

    def refuse(self, request, status, why):
        with self.lock:
            self.refused.append(why)
        self.reply(request, status, why.encode(), {})

    def reply(self, request, status, body, headers):
        request.send_response(status)
        for name, value in headers.items():
            request.send_header(name, value)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)
