"""A webhook receiver on loopback (on tests/streams/receivers/http.py) that verifies each
request's Standard Webhooks signature with the ``standardwebhooks`` package, as a
customer's receiver would, and keeps each batch it accepted with its ``webhook-id``.

Besides the base's faults (``answers``, ``close_connections``, ``down``,
``slow_seconds``): ``hold``, a ``threading.Event`` each request waits for before it is
answered (``holding`` is set while one waits), for a test that must act mid-request."""

import threading
import time

import orjson
from standardwebhooks import Webhook, WebhookVerificationError

from tests.streams.receivers.http import Answer, HttpReceiver

PATH = "/hooks/audit"


class WebhookReceiver(HttpReceiver):
    def __init__(self, secret=None):
        super().__init__(self.verify)
        self.secret = secret
        self.batches = []  # (webhook-id, [record, ...]) in arrival order, verified
        self.raw = []  # (headers, body bytes) of each of them
        self.refused = []  # why requests were refused
        self.hold = None
        self.holding = threading.Event()

    @property
    def url(self):
        return super().url + PATH

    def release(self):
        """Let the held request go on, and wait until it has been taken (a generous wait,
        then a failure): the worker that sent it gave up on it, the receiver did not."""
        taken = len(self.batches)
        self.hold, held = None, self.hold
        held.set()
        deadline = time.monotonic() + 30
        while len(self.batches) == taken:
            assert time.monotonic() < deadline, "the held request was never taken"
            time.sleep(0.01)

    def unique_records(self):
        """The records deduplicated by id, keeping the first arrival (as a receiver would)."""
        seen, found = set(), []
        for record in self.records:
            if record["id"] not in seen:
                seen.add(record["id"])
                found.append(record)
        return found

    def __exit__(self, *exc_info):
        if self.hold is not None:
            self.hold.set()  # a held request must not keep the server from stopping
        super().__exit__(*exc_info)

    def verify(self, request):
        if self.hold is not None:
            self.holding.set()
            self.hold.wait()
        if request.path != PATH:
            return self.refuse(404, f"no receiver at {request.path}")
        if request.headers.get("Content-Type") != "application/json":
            return self.refuse(400, "content type is not application/json")
        try:
            Webhook(self.secret).verify(request.body, dict(request.headers.items()))
        except (WebhookVerificationError, ValueError) as error:
            return self.refuse(401, f"signature: {error}")
        payload = orjson.loads(request.body)
        if payload.get("type") != "audit_log.events" or not isinstance(payload.get("data"), list):
            return self.refuse(400, "not an audit_log.events batch")
        return Answer(204, b"", records=payload["data"])

    def taken(self, request, answer):
        self.batches.append((request.headers["webhook-id"], answer.records))
        self.raw.append((dict(request.headers.items()), request.body))

    def refuse(self, status, why):
        with self.lock:
            self.refused.append(why)
        return Answer(status, why.encode())
