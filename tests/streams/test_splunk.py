"""The Splunk HEC kind, sender level: batches built by hand, posted to a loopback HEC
that checks the documented request shape and answers as HEC does."""

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.streams.kinds import kind_named
from tests.streams.receivers.http import batch_of, make_batch, make_record, parsed
from tests.streams.receivers.splunk import TOKEN, SplunkReceiver, objects_of
from tests.streams.sender_steps import HttpSenders, HttpSenderTests, check_refuses, ids

KIND = kind_named("splunk")
SENDERS = HttpSenders(KIND, TOKEN)
BUSY = {"text": "Server is busy", "code": 9}


@pytest.fixture
def receiver():
    with SplunkReceiver(indexes={"main", "audit"}) as receiver:
        yield receiver


class TestAsEveryHttpSender(HttpSenderTests):
    """The tests every kind that posts over HTTP passes (tests/streams/sender_steps.py)."""

    senders = SENDERS
    redirect = (301, "https://splunk.example.com:8088/")


def test_delivers_each_record_as_an_hec_event_in_order(receiver):
    batch = make_batch(5)

    outcome = SENDERS.send(receiver, batch)

    assert outcome.ok, outcome.message
    assert receiver.records == parsed(batch)
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.path == "/services/collector/event"
    assert request.headers["Authorization"] == f"Splunk {TOKEN}"
    objects = objects_of(request.body)
    for record, value in zip(batch.records, objects, strict=True):
        milliseconds = (record.received_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
            milliseconds=1
        )
        assert value["time"] == milliseconds / 1000
        assert value["host"] == socket.gethostname()
        assert value["source"] == "auditlog"
        assert value["sourcetype"] == "auditlog:event"
        assert "index" not in value  # the token's default index


def test_each_line_is_spliced_in_as_it_is(receiver):
    batch = make_batch(3)

    assert SENDERS.send(receiver, batch).ok

    lines = receiver.requests[0].body.decode().split("\n")
    events = [line.partition(',"event":')[2].removesuffix("}") for line in lines]
    assert events == [record.line for record in batch.records]  # byte for byte


def test_index_and_sourcetype_are_sent_when_set(receiver):
    assert SENDERS.send(receiver, make_batch(2), index="audit", sourcetype="acme:audit").ok

    objects = objects_of(receiver.requests[0].body)
    assert {(value["index"], value["sourcetype"]) for value in objects} == {("audit", "acme:audit")}


def test_a_wrong_token_is_refused_with_hecs_answer(receiver):
    outcome = SENDERS.send(receiver, make_batch(1), secret="not-the-token")

    assert not outcome.ok and not outcome.retry
    assert outcome.message == "HTTP 403: Invalid token (code 4)"
    assert receiver.records == []


def test_an_index_the_token_may_not_write_to_is_refused(receiver):
    outcome = SENDERS.send(receiver, make_batch(1), index="other")

    assert not outcome.ok and not outcome.retry
    assert "Incorrect index (code 7)" in outcome.message


@pytest.mark.parametrize(
    ("answer", "after"),
    [
        ((503, BUSY, {"Retry-After": "30"}), 30.0),
        ((503, {"text": "HEC is unhealthy, queues are full", "code": 18}), None),
        ((500, {"text": "Internal server error", "code": 8}), None),
        ((429, "Too Many Requests", {"Retry-After": "7"}), 7.0),
        ((502, "Bad Gateway"), None),  # a load balancer in front of HEC
        ((200, BUSY), None),  # a 200 that is not "Success" delivers nothing
    ],
)
def test_busy_or_failing_collectors_are_retried(receiver, answer, after):
    SENDERS.retried_then_delivered(receiver, answer, after)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ((401, {"text": "Token is required", "code": 2}), "HTTP 401: Token is required (code 2)"),
        ((403, {"text": "Token disabled", "code": 1}), "HTTP 403: Token disabled (code 1)"),
        (
            (400, {"text": "Invalid data format", "code": 6, "invalid-event-number": 0}),
            "HTTP 400: Invalid data format (code 6)",
        ),
        ((413, "Content-Length of 2000000 too large"), "HTTP 413: Content-Length of 2000000"),
        ((404, "Not Found"), "HTTP 404: Not Found"),
    ],
)
def test_token_and_data_errors_are_permanent(receiver, answer, message):
    assert SENDERS.refused(receiver, answer).message.startswith(message)


def test_a_batch_over_a_megabyte_goes_in_several_requests_in_order(receiver):
    batch = make_batch(1000, padding=3000)  # about 3.5 MB of events

    SENDERS.sent_in_parts(receiver, batch, 4)

    assert all(len(request.body) <= 1_000_000 for request in receiver.requests)


def test_a_later_request_failing_fails_the_batch_and_a_retry_completes_it(receiver):
    batch = make_batch(1000, padding=3000)

    outcome = SENDERS.second_part_refused_then_delivered(
        receiver, batch, (503, BUSY, {"Retry-After": "5"})
    )

    assert outcome.after == 5.0
    assert outcome.message.startswith("request 2 of 4: HTTP 503: Server is busy")


def huge_batch():
    small, huge = make_record(1), make_record(2, padding=1_100_000)
    return batch_of([small, huge, make_record(3)])


def test_an_event_over_the_limit_goes_in_a_request_of_its_own():
    with SplunkReceiver(max_content_length=800 * 1024 * 1024) as receiver:  # Splunk 8's
        SENDERS.sent_in_parts(receiver, huge_batch(), 3)

        assert [len(objects_of(request.body)) for request in receiver.requests] == [1, 1, 1]


def test_an_event_over_the_collectors_limit_is_refused_for_an_admin(receiver):
    outcome = SENDERS.send(receiver, huge_batch())

    assert not outcome.ok and not outcome.retry
    assert outcome.message.startswith("request 2 of 3: HTTP 413")
    assert ids(receiver.records) == ["evt_00000000000000000000000001"]


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b'{"event": {"a": 1}}', {}, 401, 2),
        (b'{"event": {"a": 1}}', {"Authorization": f"Bearer {TOKEN}"}, 401, 3),
        (b"", None, 400, 5),
        (b'{"event": {"a": 1}} {"event": ', None, 400, 6),
        (b'{"time": "soon", "event": {"a": 1}}', None, 400, 6),
        (b'{"event": {"a": 1}, "extra": 1}', None, 400, 6),
        (b'{"time": 1.5}', None, 400, 12),
        (b'{"event": ""}', None, 400, 13),
        (b'{"index": "secret", "event": {"a": 1}}', None, 400, 7),
        (b'{"time": 1.5, "event": {"a": 1}}\n{"event": "text"}', None, 200, 0),
    ],
)
def test_the_receiver_holds_requests_to_hecs_shape(receiver, body, headers, status, code):
    headers = {"Authorization": f"Splunk {TOKEN}"} if headers is None else headers
    response = httpx.post(receiver.url + "/services/collector/event", content=body, headers=headers)

    assert (response.status_code, response.json()["code"]) == (status, code)


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"url": " "}, "url", "Enter the URL"),
        ({"url": "ftp://splunk.example.com"}, "url", "https://"),
        ({"url": "https://splunk.example.com:8088/services/collector/event"}, "url", "path"),
        ({"url": "https://user:pw@splunk.example.com"}, "url", "credentials"),
        ({"url": "https://splunk.example.com:port"}, "url", "not valid"),
        ({"index": "Main"}, "index", "lowercase letters"),
        ({"index": "audit logs"}, "index", "lowercase letters"),
        ({"index": "_internal"}, "index", "cannot begin with _ or -"),
        ({"index": "-audit"}, "index", "cannot begin with _ or -"),
        ({"index": "my_kvstore"}, "index", "kvstore"),
        ({"index": "a" * 201}, "index", "longer than 200"),
        ({"sourcetype": "audit log"}, "sourcetype", "letters, digits"),
        ({"sourcetype": "a" * 201}, "sourcetype", "longer than 200"),
    ],
)
def test_check_refuses_bad_settings_with_a_reason(settings, field, message):
    check_refuses(KIND, {"url": "https://splunk.example.com:8088", **settings}, field, message)


def test_check_normalises_the_settings():
    settings = {"url": " https://splunk.example.com:8088/ ", "index": " main ", "sourcetype": ""}

    assert KIND.check(settings) == {
        "url": "https://splunk.example.com:8088",
        "index": "main",
        "sourcetype": "auditlog:event",
    }


def test_the_kind_as_the_dashboard_shows_it():
    assert (KIND.name, KIND.label, KIND.workos_type) == (
        "splunk",
        "Splunk HTTP Event Collector",
        "Splunk",
    )
    assert (KIND.secret_label, KIND.generates_secret, KIND.max_batch) == ("HEC token", False, 1000)
    assert [setting.name for setting in KIND.settings] == ["url", "index", "sourcetype"]
    settings = KIND.check({"url": "https://splunk.example.com:8088", "index": "audit"})
    assert KIND.describe(settings) == "https://splunk.example.com:8088, index audit"
