"""A loopback HTTP receiver for the streams' tests, which each destination's receiver
(Splunk, Datadog, the webhook) builds on with its own ``check``.

    def check(request):  # -> Answer, or (status, body[, headers[, records]])
        if request.headers.get("authorization") != "Bearer t":
            return 401, {"error": "bad token"}
        return Answer(200, "ok", records=json.loads(request.body))

    with HttpReceiver(check) as receiver:
        ... post to receiver.url ...
        assert receiver.records == [...]

Every request lands in ``requests`` (as read, whatever the answer). The check's answer
is given and its ``records`` kept (on a 2xx), unless a fault is set up first:

- ``answers``: canned answers, used one per request before the check's, in order; an
  entry ``None`` lets that request through to the check (``[None, (503, "busy")]``
  fails the second request only). A canned answer's request is still checked, but its
  records are not kept: the destination did not take them.
- ``slow_seconds``: wait this long before answering (stopping the receiver cuts it
  short). The records are kept before the wait, as by a destination that took a batch
  and answered too late.
- ``close_connections``: read each request, then close the connection without a word
  (leaving ``answers`` as they are).
- ``down``: stop listening (connections are refused, kept-alive ones are closed);
  setting it back to ``False`` listens again on the same port.

Requests are served on threads; a request's ``requests`` and ``records`` entries are
written before its answer, so a client that has its answer sees them.
"""

import contextlib
import json
import socket
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from app.streams.kinds import Batch, Destination, Record


@dataclass(frozen=True)
class Request:
    """One request as the receiver read it: ``body`` is the raw bytes (still compressed
    if the client compressed them), ``client`` the peer's (host, port)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: HTTPMessage  # case-insensitive: headers.get("Content-Type")
    body: bytes
    client: tuple


class Answer(NamedTuple):
    """What the receiver answers: ``body`` as bytes, text, or JSON (a dict or a list,
    sent as ``application/json``); ``records``: what a 2xx answer accepted."""

    status: int
    body: Any = b""
    headers: dict = {}  # never mutated: encoded() copies it
    records: tuple | list = ()


def answer_of(value):
    """An ``Answer`` from a check's or a test's tuple."""
    return value if isinstance(value, Answer) else Answer(*value)


def encoded(answer):
    """The answer's body bytes and headers (a content type for JSON and text)."""
    headers = {key.lower(): value for key, value in answer.headers.items()}
    body = answer.body
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
        headers.setdefault("content-type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
        headers.setdefault("content-type", "text/plain; charset=utf-8")
    return body, headers


class _Server(ThreadingHTTPServer):
    """Keeps track of its open connections, so that stopping can close kept-alive ones
    (their threads would otherwise wait for the client's next request)."""

    daemon_threads = False  # server_close() joins every handler thread
    block_on_close = True

    def __init__(self, address, handler, receiver):
        self.receiver = receiver
        self.connections = set()
        self.lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self):
        with self.lock:
            connections = list(self.connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # the client closed it first
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout test) breaks the pipe under the answer; keep it
        # for a test to look at instead of printing a traceback into the run's output.
        self.receiver.errors.append(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the destinations do
    timeout = 30  # a connection left idle by a test ends on its own

    def log_message(self, format, *args):
        pass  # the tests' output is no place for an access log

    def do_POST(self):
        self.server.receiver.serve(self)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_POST

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)[:size]  # each chunk ends with CRLF
                if not size:
                    return b"".join(chunks)
                chunks.append(chunk)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send(self, answer):
        body, headers = encoded(answer)
        self.send_response(answer.status)
        for name, value in headers.items():
            if name != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class HttpReceiver:
    """An HTTP server on 127.0.0.1 (a free port) that answers with ``check(request)``;
    see the module's docstring for the faults it can play."""

    def __init__(self, check):
        self.check = check
        self.records = []
        self.requests = []
        self.answers = []
        self.errors = []
        self.slow_seconds = 0.0
        self.close_connections = False
        self.port = 0
        self.server = None
        self.thread = None
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    @property
    def url(self):
        """The server's base URL, ``http://127.0.0.1:<port>`` (no trailing slash)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.stopping.clear()
        self.server = _Server(("127.0.0.1", self.port), _Handler, self)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self):
        if self.server is None:
            return
        self.stopping.set()  # cuts a slow answer short
        self.server.shutdown()
        self.server.drop_connections()
        self.server.server_close()
        self.thread.join()
        self.server = self.thread = None

    @property
    def down(self):
        return self.server is None

    @down.setter
    def down(self, value):
        if value:
            self.stop()
        elif self.server is None:
            self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def taken(self, request, answer):
        """A request whose records were kept (a receiver notes more of it here)."""

    def serve(self, handler):
        """Read one request, note it, and answer it (or play the fault that is set up)."""
        body = handler.read_body()
        parts = urlsplit(handler.path)
        request = Request(
            method=handler.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers=handler.headers,
            body=body,
            client=handler.client_address,
        )
        with self.lock:
            self.requests.append(request)
        if self.close_connections:
            handler.close_connection = True
            return
        with self.lock:
            canned = self.answers.pop(0) if self.answers else None
        answer = answer_of(self.check(request))
        if canned is not None:
            answer = answer_of(canned)
        elif 200 <= answer.status < 300:
            with self.lock:
                self.records.extend(answer.records)
                self.taken(request, answer)
        if self.slow_seconds and self.stopping.wait(self.slow_seconds):
            handler.close_connection = True
            return
        handler.send(answer)


# What a stream sends, built by hand: the records of a batch as the delivery loop reads
# them (app/streams/kinds/__init__.py), for every kind's tests.

STREAM_ID = "als_01HZSTREAM0000000000000000"
ORGANIZATION_ID = "org_01HZORGANIZATION000000000"
EPOCH = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def make_record(seq, action="user.signed_in", padding=0, received_at=None):
    """A record whose ``line`` is JSON text as NDJSON exports write it (``padding``
    characters of metadata make it as large as a test needs)."""
    received_at = received_at or EPOCH + timedelta(seconds=seq)
    event = {
        "id": f"evt_{seq:026d}",
        "action": action,
        "occurred_at": received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "actor": {"type": "user", "id": "user_1", "name": "Ada Lovelace"},
        "targets": [{"type": "team", "id": "team_1", "name": "Café ☕"}],
        "context": {"location": "192.0.2.1", "user_agent": "curl/8"},
        "metadata": {"note": "x" * padding} if padding else {},
        "received_at": received_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "organization_id": ORGANIZATION_ID,
        "seq": seq,
        "prev_hash": f"{seq - 1:064x}",
        "hash": f"{seq:064x}",
    }
    return Record(
        id=event["id"],
        seq=seq,
        hash=event["hash"],
        action=action,
        received_at=received_at,
        line=json.dumps(event, ensure_ascii=False, separators=(",", ":")),  # as orjson writes
    )


def batch_of(records, test=False):
    """A batch of these records (``test``: a stream's test event, no cursor)."""
    return Batch(STREAM_ID, ORGANIZATION_ID, list(records), test=test)


def make_batch(count, first_seq=1, padding=0):
    """A batch of ``count`` consecutive records."""
    return batch_of(
        make_record(seq, padding=padding) for seq in range(first_seq, first_seq + count)
    )


def make_destination(settings, secret):
    """A destination as the delivery loop builds it from a stream's row."""
    return Destination(STREAM_ID, ORGANIZATION_ID, settings, secret)


def parsed(batch):
    """The batch's records as a receiver should have them: each line parsed."""
    return [json.loads(record.line) for record in batch.records]
