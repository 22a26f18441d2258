"""A Splunk HTTP Event Collector on the loopback, checking each request as HEC does and
answering with HEC's documented status and ``{"text", "code"}`` bodies:

- ``POST /services/collector/event``, ``Authorization: Splunk <token>``: 401 code 2
  without it, 401 code 3 without the ``Splunk`` scheme, 403 code 4 for another token;
- the body: JSON objects one after the other (whitespace between), each with an
  ``event`` that is not blank (code 12, 13), ``time`` a number of epoch seconds and
  ``host``, ``source``, ``sourcetype``, ``index`` strings (else 400 code 6 with the
  ``invalid-event-number``); no body at all is code 5; an index outside the token's
  (``indexes``) is code 7;
- a body past ``max_content_length`` (1,000,000 bytes, HEC's limit before Splunk 8) is
  refused with 413;
- 200 ``{"text": "Success", "code": 0}``, keeping each object's ``event`` as a record.
"""

import json

from tests.streams.receivers.http import Answer, HttpReceiver

PATH = "/services/collector/event"
TOKEN = "11111111-2222-3333-4444-555555555555"  # HEC tokens are GUIDs
MAX_CONTENT_LENGTH = 1_000_000
KEYS = {"time", "host", "source", "sourcetype", "index", "event", "fields"}
STRINGS = ("host", "source", "sourcetype", "index")
SUCCESS = {"text": "Success", "code": 0}


def hec(status, text, code, **more):
    """An answer in HEC's shape."""
    return Answer(status, {"text": text, "code": code, **more})


def objects_of(body):
    """The JSON objects of an HEC body, in order (``ValueError`` at the first bad one,
    with ``.number``, HEC's ``invalid-event-number``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        error.number = 0
        raise
    decoder = json.JSONDecoder()
    objects, at = [], 0
    while True:
        while at < len(text) and text[at] in " \t\r\n":
            at += 1
        if at == len(text):
            return objects
        try:
            value, at = decoder.raw_decode(text, at)
        except ValueError as error:
            error.number = len(objects)
            raise
        objects.append(value)


def problem(number, value, indexes):
    """What HEC says of one object, or ``None`` when it is a good event."""
    if not isinstance(value, dict):
        return hec(400, "Invalid data format", 6, **{"invalid-event-number": number})
    if "event" not in value:
        return hec(400, "Event field is required", 12, **{"invalid-event-number": number})
    if value["event"] in ("", None, {}):
        return hec(400, "Event field cannot be blank", 13, **{"invalid-event-number": number})
    time = value.get("time", 0)
    bad_time = isinstance(time, bool) or not isinstance(time, int | float)
    bad_strings = any(not isinstance(value.get(key, ""), str) for key in STRINGS)
    if bad_time or bad_strings or not set(value) <= KEYS:
        return hec(400, "Invalid data format", 6, **{"invalid-event-number": number})
    if "index" in value and indexes is not None and value["index"] not in indexes:
        return hec(400, "Incorrect index", 7, **{"invalid-event-number": number})
    return None


class SplunkReceiver(HttpReceiver):
    """HEC for one token; ``indexes``: the indexes the token may write to (``None``: any).
    ``records`` are the accepted objects' ``event`` values (``objects_of`` a request's
    body gives the whole objects)."""

    def __init__(self, token=TOKEN, indexes=None, max_content_length=MAX_CONTENT_LENGTH):
        super().__init__(self.answer)
        self.token = token
        self.indexes = indexes
        self.max_content_length = max_content_length

    def answer(self, request):
        if request.path != PATH:
            return hec(404, "The requested URL was not found on this server.", 404)
        if request.method != "POST":
            return hec(405, "Method not allowed", 405)
        authorization = request.headers.get("Authorization")
        if not authorization:
            return hec(401, "Token is required", 2)
        scheme, _space, token = authorization.partition(" ")
        if scheme != "Splunk" or not token:
            return hec(401, "Invalid authorization", 3)
        if token != self.token:
            return hec(403, "Invalid token", 4)
        if len(request.body) > self.max_content_length:
            return Answer(413, f"Content-Length of {len(request.body)} too large")
        try:
            objects = objects_of(request.body)
        except ValueError as error:
            return hec(400, "Invalid data format", 6, **{"invalid-event-number": error.number})
        if not objects:
            return hec(400, "No data", 5)
        for number, value in enumerate(objects):
            if (refusal := problem(number, value, self.indexes)) is not None:
                return refusal
        return Answer(200, SUCCESS, records=[value["event"] for value in objects])
