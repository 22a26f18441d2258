"""Splunk HTTP Event Collector (HEC): events posted with the stream's HEC token, in the
"event" format Splunk's own logging libraries send.

``POST <base url>/services/collector/event`` with ``Authorization: Splunk <token>``; the
body is one JSON object per event, newline-separated: ``{"time": <epoch s.ms>, "host",
"source": "auditlog", "sourcetype", ["index",] "event": record}``. HEC answers
``{"text": ..., "code": ...}``, the code saying whether the token, the data or the
server is at fault (docs/streams.md).
"""

import re
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson

from app.streams.kinds import (
    MAX_ERROR,
    HttpSender,
    Outcome,
    Setting,
    check_url,
    http_outcome,
    invalid,
    register,
    split,
)

PATH = "/services/collector/event"
SOURCE = "auditlog"
DEFAULT_SOURCETYPE = "auditlog:event"
# HEC refuses a body longer than limits.conf's max_content_length, 1,000,000 bytes on
# older installations; newer ones allow more, but nothing tells us which one we talk to.
MAX_BODY = 1_000_000
MAX_NAME = 200
INDEX_PATTERN = re.compile(r"[a-z0-9_-]+")  # Splunk's rule for index names
SOURCETYPE_PATTERN = re.compile(r"[A-Za-z0-9_.:/-]+")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def hec_outcome(response):
    """HEC's answer as an outcome: decided by the HTTP status (each HEC code has one
    status), worded with HEC's own ``text`` and ``code``."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if isinstance(answer, dict) and "text" in answer:
        code = answer.get("code")
        message = f"HTTP {response.status_code}: {answer['text']} (code {code})"
    else:
        code = None
        message = f"HTTP {response.status_code}: {response.text}".strip()
    if response.is_success and code != 0:
        # Not HEC's "Success" (another code, or not HEC at all: a proxy's page, a wrong
        # port): nobody said the events were taken, so they are not delivered.
        return Outcome.again(message)
    return replace(http_outcome(response), message=message[:MAX_ERROR])


def epoch_text(moment):
    """``moment`` as HEC's ``time``: Unix seconds with milliseconds, ``1767322800.123``."""
    milliseconds = (moment - EPOCH) // timedelta(milliseconds=1)  # cut: never past the line's time
    return f"{milliseconds / 1000:.3f}"


class SplunkSender(HttpSender):
    """Posts batches to one collector over a kept-alive connection."""

    def __init__(self, destination, host=None):
        settings = destination.settings
        super().__init__(settings["url"].rstrip("/") + PATH)
        self.headers = {
            "authorization": f"Splunk {destination.secret}",
            "content-type": "application/json",
            "user-agent": "auditlog-streams",
        }
        fields = {
            "host": host or socket.gethostname(),
            "source": SOURCE,
            "sourcetype": settings.get("sourcetype") or DEFAULT_SOURCETYPE,
        }
        if settings.get("index"):
            fields["index"] = settings["index"]
        self.fields = orjson.dumps(fields)[1:-1]  # the members, spliced into each event

    def event(self, record):
        """One event's JSON object; the record's line goes in as it is, not re-serialised."""
        time = epoch_text(record.received_at).encode()
        return b'{"time":%b,%b,"event":%b}' % (time, self.fields, record.line.encode())

    def send(self, batch):
        events = [self.event(record) for record in batch.records]
        bodies = (b"\n".join(run) for run in split(events, MAX_BODY))
        return self.post_all(bodies, self.headers, hec_outcome)


def check_name(settings, name, what, pattern, rule, default=""):
    """The setting ``name`` (the default if it is empty): at most ``MAX_NAME`` characters
    that match ``pattern``; ``rule`` says which, for one that does not."""
    value = (settings.get(name) or "").strip() or default
    if len(value) > MAX_NAME:
        raise invalid(name, f"The {what} is longer than {MAX_NAME} characters.")
    if value and not pattern.fullmatch(value):
        raise invalid(name, rule)
    return value


def check_index(settings):
    """The index, or ``""`` for the token's default; Splunk's naming rule otherwise."""
    index = check_name(
        settings,
        "index",
        "index name",
        INDEX_PATTERN,
        "Splunk index names have only lowercase letters, digits, _ and - (for example main).",
    )
    if index[:1] in ("_", "-"):
        raise invalid("index", "Splunk index names cannot begin with _ or -.")
    if "kvstore" in index:
        raise invalid("index", 'Splunk index names cannot contain "kvstore".')
    return index


def check_sourcetype(settings):
    """The source type, or the default; a name that searches can quote without escaping."""
    return check_name(
        settings,
        "sourcetype",
        "source type",
        SOURCETYPE_PATTERN,
        "Use letters, digits and _ . : / - in the source type (for example auditlog:event).",
        default=DEFAULT_SOURCETYPE,
    )


class SplunkKind:
    name = "splunk"
    label = "Splunk HTTP Event Collector"
    workos_type = "Splunk"
    max_batch = 1000
    secret_label = "HEC token"  # noqa: S105  (a label, not a secret)
    generates_secret = False
    settings = (
        Setting(
            "url",
            "HEC URL",
            "url",
            required=True,
            help="The collector's address without a path, such as "
            "https://splunk.example.com:8088; events go to /services/collector/event.",
        ),
        Setting("index", "Index", help="Leave empty to use the token's default index."),
        Setting("sourcetype", "Source type", default=DEFAULT_SOURCETYPE),
    )

    def check(self, settings):
        return {
            "url": check_url(settings, paths=False).rstrip("/"),
            "index": check_index(settings),
            "sourcetype": check_sourcetype(settings),
        }

    def describe(self, settings):
        index = settings.get("index")
        return f"{settings['url']}, index {index}" if index else settings["url"]

    def sender(self, destination):
        return SplunkSender(destination)


register(SplunkKind())
