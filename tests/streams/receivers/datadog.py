"""Datadog's logs intake (API v2) on the loopback, checking each request against the
documented limits and answering with the documented statuses:

- ``POST /api/v2/logs`` with ``DD-API-KEY``: 401 without it, 403 for another key;
- ``Content-Type: application/json`` and ``Content-Encoding: gzip`` (Datadog also takes
  uncompressed bodies; the stream promises gzip, so this receiver holds it to that);
- the body, once inflated, at most 5,000,000 bytes (else 413), a JSON array of at most
  1,000 objects, each with a string ``message`` and, if present, string ``ddsource``,
  ``service``, ``hostname`` and ``ddtags`` (comma separated, no empty tag); else 400;
- an entry past 1,000,000 bytes is taken, as Datadog takes it (truncated), and noted in
  ``oversized``;
- 202 ``{}``, keeping each entry's message, parsed when it is JSON, as a record.

Errors have Datadog's ``{"errors": [{"status", "title", "detail"}]}`` shape.
"""

import gzip
import json
import zlib

from tests.streams.receivers.http import Answer, HttpReceiver

PATH = "/api/v2/logs"
API_KEY = "0123456789abcdef0123456789abcdef"  # Datadog API keys: 32 hex digits
MAX_BODY = 5_000_000
MAX_ENTRIES = 1000
MAX_ENTRY = 1_000_000
STRINGS = ("ddsource", "service", "hostname", "ddtags")


def error(status, title, detail):
    """An answer in Datadog's error shape."""
    return Answer(status, {"errors": [{"status": str(status), "title": title, "detail": detail}]})


def entries_of(body):
    """The log entries of a request body (gzip'd JSON array)."""
    return json.loads(gzip.decompress(body))


def problem(entry):
    """What is wrong with one entry, or ``None``."""
    if not isinstance(entry, dict):
        return "each log must be a JSON object"
    if not isinstance(entry.get("message"), str):
        return "each log needs a message string"
    for key in STRINGS:
        if key in entry and not isinstance(entry[key], str):
            return f"{key} must be a string"
    if "ddtags" in entry and "" in (tag.strip() for tag in entry["ddtags"].split(",")):
        return "ddtags has an empty tag"
    return None


def compact(value):
    """A JSON value's size as a client sends it: compact UTF-8."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def record_of(message):
    """The record a message carries: its JSON parsed (Datadog parses it into attributes)."""
    try:
        return json.loads(message)
    except ValueError:
        return message


class DatadogReceiver(HttpReceiver):
    """The intake for one API key."""

    def __init__(self, api_key=API_KEY):
        super().__init__(self.answer)
        self.api_key = api_key
        self.oversized = []

    def answer(self, request):
        if request.path != PATH:
            return error(404, "Not Found", f"no intake at {request.path}")
        if request.method != "POST":
            return error(405, "Method Not Allowed", "POST logs")
        key = request.headers.get("DD-API-KEY")
        if not key:
            return error(401, "Unauthorized", "API key is missing")
        if key != self.api_key:
            return error(403, "Forbidden", "API key is invalid")
        if (request.headers.get("Content-Type") or "").split(";")[0] != "application/json":
            return error(400, "Bad Request", "expected Content-Type: application/json")
        if request.headers.get("Content-Encoding") != "gzip":
            return error(400, "Bad Request", "expected Content-Encoding: gzip")
        try:
            body = gzip.decompress(request.body)
        except (OSError, EOFError, zlib.error):
            return error(400, "Bad Request", "the body is not gzip")
        if len(body) > MAX_BODY:
            return error(413, "Payload Too Large", f"{len(body)} bytes uncompressed")
        try:
            entries = json.loads(body)
        except ValueError:
            return error(400, "Bad Request", "the body is not JSON")
        if not isinstance(entries, list) or not entries or len(entries) > MAX_ENTRIES:
            return error(400, "Bad Request", f"expected an array of 1 to {MAX_ENTRIES} logs")
        for entry in entries:
            if (detail := problem(entry)) is not None:
                return error(400, "Bad Request", detail)
        for entry in entries:
            if len(compact(entry)) > MAX_ENTRY:
                with self.lock:
                    self.oversized.append(entry)
        return Answer(202, {}, records=[record_of(entry["message"]) for entry in entries])
