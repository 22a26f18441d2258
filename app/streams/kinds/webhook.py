"""HTTPS webhook: JSON batches signed per the Standard Webhooks specification, so that a
receiver verifies them with an existing library (``standardwebhooks`` and its ports).

``POST <url>`` with ``{"type": "audit_log.events", "data": [record, ...]}``; the headers
``webhook-id`` (the batch's key, the same on every retry of it: the receiver's
idempotency key), ``webhook-timestamp`` and ``webhook-signature`` (``v1,<base64
HMAC-SHA256>`` of ``id.timestamp.body`` with the stream's ``whsec_`` secret).
"""

import base64
import secrets

from standardwebhooks import Webhook

from app.streams.kinds import HttpSender, Outcome, Setting, check_url, http_outcome, register
from app.timestamps import utcnow

EVENT_TYPE = "audit_log.events"


def new_secret():
    """A fresh signing secret, as the specification writes them."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def body_of(batch):
    """The request body: the records' JSON spliced into the envelope, serialised once (the
    signature covers these exact bytes)."""
    lines = ",".join(record.line for record in batch.records)
    return f'{{"type":"{EVENT_TYPE}","data":[{lines}]}}'


def webhook_outcome(response):
    """A 410 is refused: the receiver says this endpoint is gone for good; any other
    answer is read the usual way."""
    if response.status_code == 410:
        return Outcome.refused(f"HTTP 410: {response.text}")
    return http_outcome(response, retried=(408, 429, 502, 503, 504))


class WebhookSender(HttpSender):
    """Signs and posts batches over one kept-alive connection."""

    def __init__(self, destination, clock=utcnow):
        super().__init__(destination.settings["url"])
        self.signer = Webhook(destination.secret)
        self.clock = clock

    def headers(self, key, body):
        """The three signature headers (and the content type) for one request."""
        now = self.clock()  # aware UTC: the library drops the time zone before it signs
        return {
            "content-type": "application/json",
            "user-agent": "auditlog-streams",
            "webhook-id": key,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self.signer.sign(key, now, body),
        }

    def send(self, batch):
        body = body_of(batch)
        return self.post(body.encode(), self.headers(batch.key, body), webhook_outcome)


class WebhookKind:
    name = "webhook"
    label = "HTTPS webhook"
    workos_type = "GenericHttps"
    max_batch = 1000
    secret_label = "Signing secret"  # noqa: S105  (a label, not a secret)
    generates_secret = True
    settings = (
        Setting(
            "url",
            "Endpoint URL",
            "url",
            required=True,
            help="Batches are POSTed here, signed per the Standard Webhooks specification.",
        ),
    )

    def new_secret(self):
        return new_secret()

    def check(self, settings):
        return {"url": check_url(settings)}

    def describe(self, settings):
        # Without its query: some receivers take a token there, which must not show on
        # the page or go into the organization's log.
        return settings["url"].split("?", 1)[0]

    def sender(self, destination):
        return WebhookSender(destination)


register(WebhookKind())
