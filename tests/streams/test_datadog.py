"""The Datadog kind, sender level: batches built by hand, posted to a loopback logs
intake that checks the documented request shape and limits and answers as Datadog does."""

import gzip
import json
import socket
from dataclasses import replace

import httpx
import pytest

from app.streams.kinds import datadog, kind_named
from tests.streams.receivers.datadog import API_KEY, DatadogReceiver, entries_of
from tests.streams.receivers.http import (
    ORGANIZATION_ID,
    batch_of,
    make_batch,
    make_record,
    parsed,
)
from tests.streams.sender_steps import HttpSenders, HttpSenderTests, check_refuses

KIND = kind_named("datadog")
SENDERS = HttpSenders(KIND, API_KEY, "intake_url", site="datadoghq.eu")


@pytest.fixture
def receiver():
    with DatadogReceiver() as receiver:
        yield receiver


class TestAsEveryHttpSender(HttpSenderTests):
    """The tests every kind that posts over HTTP passes (tests/streams/sender_steps.py)."""

    senders = SENDERS
    redirect = (307, "https://proxy.example.com/")


def test_delivers_each_record_as_a_log_entry_in_order(receiver):
    batch = make_batch(5)

    outcome = SENDERS.send(receiver, batch)

    assert outcome.ok, outcome.message
    assert outcome.message == "HTTP 202"
    assert receiver.records == parsed(batch)
    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/api/v2/logs")
    assert request.headers["DD-API-KEY"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Encoding"] == "gzip"
    assert entries_of(request.body) == [
        {
            "ddsource": "auditlog",
            "service": "auditlog",
            "hostname": socket.gethostname(),
            "ddtags": f"organization:{ORGANIZATION_ID},action:user.signed_in",
            "message": record.line,  # the record's JSON text, as it is
        }
        for record in batch.records
    ]


def test_service_and_extra_tags_are_sent(receiver):
    outcome = SENDERS.send(receiver, make_batch(2), service="acme-audit", tags="env:prod, team:sec")

    assert outcome.ok, outcome.message
    entries = entries_of(receiver.requests[0].body)
    assert {entry["service"] for entry in entries} == {"acme-audit"}
    assert {entry["ddtags"] for entry in entries} == {
        f"organization:{ORGANIZATION_ID},action:user.signed_in,env:prod,team:sec"
    }


@pytest.mark.parametrize(
    ("site", "url"),
    [
        ("datadoghq.com", "https://http-intake.logs.datadoghq.com/api/v2/logs"),
        ("us3.datadoghq.com", "https://http-intake.logs.us3.datadoghq.com/api/v2/logs"),
        ("us5.datadoghq.com", "https://http-intake.logs.us5.datadoghq.com/api/v2/logs"),
        ("datadoghq.eu", "https://http-intake.logs.datadoghq.eu/api/v2/logs"),
        ("ap1.datadoghq.com", "https://http-intake.logs.ap1.datadoghq.com/api/v2/logs"),
        ("ap2.datadoghq.com", "https://http-intake.logs.ap2.datadoghq.com/api/v2/logs"),
        ("uk1.datadoghq.com", "https://http-intake.logs.uk1.datadoghq.com/api/v2/logs"),
        ("ddog-gov.com", "https://http-intake.logs.ddog-gov.com/api/v2/logs"),
        ("us2.ddog-gov.com", "https://http-intake.logs.us2.ddog-gov.com/api/v2/logs"),
    ],
)
def test_each_site_posts_to_its_documented_intake(site, url):
    with SENDERS.sender(site=site) as sender:
        assert sender.url == url


def test_a_wrong_api_key_is_refused_with_datadogs_answer(receiver):
    outcome = SENDERS.send(receiver, make_batch(1), secret="not-the-key")

    assert not outcome.ok and not outcome.retry
    assert outcome.message.startswith("HTTP 403: ")
    assert "API key is invalid" in outcome.message
    assert receiver.records == []


@pytest.mark.parametrize(
    ("answer", "after"),
    [
        ((429, {"errors": ["Too Many Requests"]}, {"Retry-After": "12"}), 12.0),
        ((503, "Service Unavailable", {"Retry-After": "3"}), 3.0),
        ((500, "Internal Server Error"), None),
        ((408, "Request Timeout"), None),
        ((502, "Bad Gateway"), None),
    ],
)
def test_throttling_and_server_errors_are_retried(receiver, answer, after):
    SENDERS.retried_then_delivered(receiver, answer, after)


@pytest.mark.parametrize("status", [400, 401, 403, 413])
def test_payload_and_key_errors_are_permanent(receiver, status):
    answer = (status, {"errors": [{"status": str(status), "detail": "no"}]})

    assert SENDERS.refused(receiver, answer).message.startswith(f"HTTP {status}: ")


def test_a_batch_over_4_mb_goes_in_several_requests_in_order(receiver):
    batch = make_batch(1000, padding=5_000)  # about 5.8 MB of entries

    outcome = SENDERS.sent_in_parts(receiver, batch, 2)

    assert all(len(gzip.decompress(r.body)) <= 4_000_000 for r in receiver.requests)
    assert outcome.message == "request 2 of 2: HTTP 202"


def test_more_than_1000_records_go_in_several_requests(receiver):
    batch = make_batch(2500)  # more than a batch ever is; the sender still sends them all

    SENDERS.sent_in_parts(receiver, batch, 3)

    assert [len(entries_of(r.body)) for r in receiver.requests] == [1000, 1000, 500]


def test_a_later_request_failing_fails_the_batch_and_a_retry_completes_it(receiver):
    batch = make_batch(1000, padding=5_000)

    outcome = SENDERS.second_part_refused_then_delivered(
        receiver, batch, (503, "Service Unavailable")
    )

    assert outcome.message.startswith("request 2 of 2: HTTP 503")


def test_a_record_too_large_for_datadog_is_replaced_by_a_stub(receiver):
    small, huge = make_record(1), make_record(2, padding=1_000_000)
    batch = batch_of([small, huge, make_record(3)])

    assert SENDERS.send(receiver, batch).ok

    assert receiver.oversized == []  # nothing for Datadog to truncate
    assert receiver.records == [
        json.loads(small.line),
        {
            "id": huge.id,
            "seq": 2,
            "hash": huge.hash,
            "action": "user.signed_in",
            "truncated": "too large for Datadog",
        },
        json.loads(batch.records[2].line),
    ]


def test_the_entry_limit_counts_the_message_as_json_escapes_it(receiver):
    # Quotes double in size once escaped: a line under 1 MB can make an entry over it.
    record = make_record(1, padding=980_000)
    record = replace(record, line=record.line.replace('"note":"', '"note":"' + '\\"' * 6000))
    assert len(record.line.encode()) < 1_000_000

    assert SENDERS.send(receiver, batch_of([record])).ok

    assert receiver.oversized == []
    assert receiver.records[0]["truncated"] == "too large for Datadog"


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"DD-API-KEY": None}, gzip.compress(b'[{"message": "a"}]'), 401),
        ({"DD-API-KEY": "other"}, gzip.compress(b'[{"message": "a"}]'), 403),
        ({"Content-Encoding": None}, b'[{"message": "a"}]', 400),
        ({"Content-Type": "text/plain"}, gzip.compress(b'[{"message": "a"}]'), 400),
        ({}, b"not gzip", 400),
        ({}, gzip.compress(b"[{"), 400),
        ({}, gzip.compress(b'[{"msg": "a"}]'), 400),
        ({}, gzip.compress(b'[{"message": "a", "ddtags": "a:b,,c:d"}]'), 400),
        ({}, gzip.compress(b"[" + b",".join([b'{"message":"a"}'] * 1001) + b"]"), 400),
        ({}, gzip.compress(b'[{"message": "' + b"x" * 5_000_000 + b'"}]'), 413),
        ({}, gzip.compress(b'[{"message": "a", "ddtags": "env:prod"}]'), 202),
    ],
)
def test_the_receiver_holds_requests_to_datadogs_shape(receiver, headers, body, status):
    headers = {
        "DD-API-KEY": API_KEY,
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        **headers,
    }
    headers = {name: value for name, value in headers.items() if value is not None}

    response = httpx.post(receiver.url + "/api/v2/logs", content=body, headers=headers)

    assert response.status_code == status


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"site": "datadoghq.org"}, "site", "Choose one of the Datadog sites"),
        ({"site": "us4.datadoghq.com"}, "site", "Choose one of the Datadog sites"),
        ({"service": "9lives"}, "service", "starting with a letter"),
        ({"service": "audit log"}, "service", "letters, digits"),
        ({"service": "a" * 101}, "service", "up to 100"),
        ({"tags": "env"}, "tags", "The tag env is not key:value"),
        ({"tags": "env:prod,team sec:x"}, "tags", "The tag team sec:x is not key:value"),
        ({"tags": "1env:prod"}, "tags", "starting with a letter"),
        ({"tags": "env:"}, "tags", "is not key:value"),
        ({"tags": "service:other"}, "tags", "The tag key service is set by the stream"),
        ({"tags": "organization:org_2"}, "tags", "The tag key organization is set"),
        ({"tags": "env:" + "x" * 200}, "tags", "longer than 200"),
        ({"tags": ",".join(["env:prod"] * 120)}, "tags", "longer than 1000"),
        ({"intake_url": "ftp://proxy"}, "intake_url", "https://"),
        ({"intake_url": "https://k:s@proxy.example.com"}, "intake_url", "credentials"),
        (
            {"intake_url": "https://http-intake.logs.datadoghq.com/api/v2/logs"},
            "intake_url",
            "the stream adds /api/v2/logs",
        ),
    ],
)
def test_check_refuses_bad_settings_with_a_reason(settings, field, message):
    check_refuses(KIND, {"site": "datadoghq.com", **settings}, field, message)


def test_check_normalises_the_settings():
    settings = {
        "site": " app.datadoghq.EU ",
        "service": " Acme-Audit ",
        "tags": " Env:Prod , ,team:sec ",
        "intake_url": "http://127.0.0.1:8126/",
    }

    assert KIND.check(settings) == {
        "site": "datadoghq.eu",
        "service": "acme-audit",
        "tags": "env:prod,team:sec",
        "intake_url": "http://127.0.0.1:8126",
    }
    assert KIND.check({}) == {
        "site": "datadoghq.com",
        "service": "auditlog",
        "tags": "",
        "intake_url": "",
    }


def test_the_kind_as_the_dashboard_shows_it():
    assert (KIND.name, KIND.label, KIND.workos_type) == ("datadog", "Datadog", "Datadog")
    assert (KIND.secret_label, KIND.generates_secret, KIND.max_batch) == ("API key", False, 1000)
    assert [setting.name for setting in KIND.settings] == ["site", "service", "tags", "intake_url"]
    site = KIND.settings[0]
    assert [value for value, _label in site.choices] == list(datadog.SITE_NAMES)
    assert KIND.describe(KIND.check({"site": "datadoghq.eu"})) == (
        "Datadog datadoghq.eu, service auditlog"
    )
