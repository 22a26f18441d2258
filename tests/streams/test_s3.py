"""The S3 kind against a local S3 (moto's server, tests/streams/receivers/s3.py): the
objects it writes, repeats, refusals and the store's faults; and its settings' checks."""

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.service_errors import ServiceError
from app.streams.kinds.s3 import ATTEMPTS, S3Kind
from tests.streams.receivers.http import (
    ORGANIZATION_ID,
    batch_of,
    make_batch,
    make_destination,
    make_record,
    parsed,
)
from tests.streams.receivers.s3 import LocalS3

KIND = S3Kind()
BUCKET = "audit-logs"
SECRET = "testing"  # moto takes any secret until require_signatures()
DAY = f"auditlog/{ORGANIZATION_ID}/2026/01/02"


@pytest.fixture(scope="module")
def local_s3():
    with LocalS3() as local:
        yield local


@pytest.fixture
def s3(local_s3):
    """The local S3, emptied, with the bucket ``BUCKET``."""
    local_s3.reset()
    local_s3.create_bucket(BUCKET)
    return local_s3


@pytest.fixture
def deliver(s3):
    """Send one batch through a fresh sender, closed after (settings and secret optional)."""

    def deliver(batch, secret=SECRET, **settings):
        sender = KIND.sender(destination(s3, secret, **settings))
        try:
            return sender.send(batch)
        finally:
            sender.close()

    return deliver


def destination(s3, secret=SECRET, **settings):
    checked = KIND.check(
        {"bucket": BUCKET, "endpoint_url": s3.endpoint_url, "access_key_id": "testing"} | settings
    )
    return make_destination(checked, secret)


def key(first, last, day=DAY):
    return f"{day}/{first:020d}-{last:020d}.ndjson.gz"


def test_a_batch_is_one_gzipped_ndjson_object(s3, deliver):
    batch = make_batch(3, first_seq=41)

    outcome = deliver(batch)

    assert outcome.ok, outcome
    assert s3.keys(BUCKET) == [key(41, 43)]
    stored = s3.get(BUCKET, key(41, 43))
    assert stored.content_type == "application/x-ndjson"
    assert stored.content_encoding == "gzip"
    assert stored.text == "".join(record.line + "\n" for record in batch.records)
    assert stored.records == parsed(batch)
    assert [record["seq"] for record in stored.records] == [41, 42, 43]


def test_batches_are_objects_in_seq_order(s3, deliver):
    for first in (1, 10, 100):
        assert deliver(make_batch(9 if first < 100 else 1, first_seq=first)).ok

    assert s3.objects(BUCKET) == [
        (key(1, 9), parsed(make_batch(9, first_seq=1))),
        (key(10, 18), parsed(make_batch(9, first_seq=10))),
        (key(100, 100), parsed(make_batch(1, first_seq=100))),
    ]


def test_the_day_is_the_first_records_in_utc(s3, deliver):
    late = datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC)
    early = datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC)
    records = [make_record(7, received_at=late), make_record(8, received_at=early)]

    assert deliver(batch_of(records)).ok

    assert s3.keys(BUCKET) == [key(7, 8, day=f"auditlog/{ORGANIZATION_ID}/2026/03/31")]


def test_a_repeated_batch_is_stored_once(s3, deliver):
    batch = make_batch(5, first_seq=1)
    first = deliver(batch)
    etag = s3.get(BUCKET, key(1, 5)).etag

    again = deliver(batch)

    assert first.ok
    assert again.ok, again  # moto answers the If-None-Match: * with 412, as S3 does
    assert "already stored" in again.message
    assert s3.keys(BUCKET) == [key(1, 5)]
    assert s3.get(BUCKET, key(1, 5)).etag == etag
    assert [request.headers["If-None-Match"] for request in s3.requests] == ["*", "*"]


def test_a_repeat_is_byte_for_byte_the_stored_object(s3, deliver):
    """A store that ignores If-None-Match overwrites the object with the same bytes: the
    gzip header carries no time."""
    batch = make_batch(2, first_seq=3)
    assert deliver(batch).ok
    assert deliver(batch).ok

    bodies = [request.body for request in s3.requests]
    assert bodies[0] == bodies[1] == s3.get(BUCKET, key(3, 4)).body


def test_a_test_batch_goes_under_test(s3, deliver):
    record = replace(make_record(0, action="auditlog.stream_test"), id="test_01HZTEST")
    batch = batch_of([record], test=True)

    assert deliver(batch).ok

    assert s3.objects(BUCKET) == [
        (f"auditlog/{ORGANIZATION_ID}/test/test_01HZTEST.ndjson.gz", [parsed(batch)[0]])
    ]


@pytest.mark.parametrize(
    ("prefix", "head"),
    [
        ("", ORGANIZATION_ID),
        ("/teams/security/", f"teams/security/{ORGANIZATION_ID}"),
    ],
)
def test_the_prefix_leads_the_key(s3, deliver, prefix, head):
    assert deliver(make_batch(1, first_seq=5), prefix=prefix).ok

    assert s3.keys(BUCKET) == [key(5, 5, day=f"{head}/2026/01/02")]


def test_with_an_endpoint_auto_addressing_is_path_style(s3, deliver):
    assert deliver(make_batch(1)).ok

    (request,) = s3.requests
    assert request.path == f"/{BUCKET}/{key(1, 1)}"
    assert request.headers["Host"] == s3.endpoint_url.removeprefix("http://")


class Sent(Exception):
    """Stops a request before it leaves (the URL is what the test wants)."""


@pytest.mark.parametrize(
    ("endpoint_url", "style", "url"),
    [
        ("", "auto", f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/"),
        ("", "path", f"https://s3.eu-west-1.amazonaws.com/{BUCKET}/"),
        ("https://minio.example.test:9000", "auto", f"https://minio.example.test:9000/{BUCKET}/"),
        (
            "https://minio.example.test:9000",
            "virtual",
            f"https://{BUCKET}.minio.example.test:9000/",
        ),
    ],
)
def test_addressing_style_decides_where_the_bucket_goes(endpoint_url, style, url):
    settings = KIND.check(
        {
            "bucket": BUCKET,
            "region": "eu-west-1",
            "endpoint_url": endpoint_url,
            "addressing_style": style,
            "access_key_id": "AKIAEXAMPLE",
        }
    )
    sender = KIND.sender(make_destination(settings, "secret"))
    urls = []

    def stop(request, **kwargs):
        urls.append(request.url)
        raise Sent

    sender.client.meta.events.register("before-send.s3.PutObject", stop)
    try:
        with pytest.raises(Sent):
            sender.send(make_batch(1))
    finally:
        sender.close()

    assert urls == [url + key(1, 1)]


def test_a_wrong_secret_is_refused(s3, deliver):
    key_id, secret = s3.require_signatures()
    assert deliver(make_batch(1, first_seq=1), secret, access_key_id=key_id).ok

    outcome = deliver(make_batch(1, first_seq=2), "not-the-secret", access_key_id=key_id)

    assert not outcome.ok and not outcome.retry
    assert "SignatureDoesNotMatch (HTTP 403)" in outcome.message
    assert s3.keys(BUCKET) == [key(1, 1)]


def test_an_unknown_access_key_is_refused(s3, deliver):
    s3.require_signatures()

    outcome = deliver(make_batch(1), "secret", access_key_id="AKIAUNKNOWN0000000000")

    assert not outcome.ok and not outcome.retry
    assert "InvalidAccessKeyId (HTTP 403)" in outcome.message


def test_a_missing_bucket_is_refused(s3, deliver):
    outcome = deliver(make_batch(1), bucket="no-such-bucket")

    assert not outcome.ok and not outcome.retry
    assert outcome.message.startswith("NoSuchBucket (HTTP 404) writing s3://no-such-bucket/")


@pytest.mark.parametrize(
    ("status", "code", "retry"),
    [
        (503, "SlowDown", True),
        (503, "ServiceUnavailable", True),
        (500, "InternalError", True),
        (400, "RequestTimeout", True),
        (409, "ConditionalRequestConflict", True),
        (403, "AccessDenied", False),
        (403, "InvalidAccessKeyId", False),
        (403, "SignatureDoesNotMatch", False),
        (400, "InvalidArgument", False),
        (501, "NotImplemented", False),
    ],
)
def test_the_stores_error_decides_whether_to_retry(s3, deliver, status, code, retry):
    s3.fail(ATTEMPTS, status, code, "as the store says it")  # botocore's own retry fails too

    outcome = deliver(make_batch(1))

    assert not outcome.ok
    assert outcome.retry is retry
    assert outcome.message == (
        f"{code} (HTTP {status}) writing s3://{BUCKET}/{key(1, 1)}: as the store says it"
    )
    assert s3.keys(BUCKET) == []


def test_a_busy_store_is_tried_again_later(s3, deliver):
    s3.fail(ATTEMPTS, 503, "SlowDown", retry_after=7)

    busy = deliver(make_batch(1))
    later = deliver(make_batch(1))

    assert busy.retry and busy.after == 7.0
    assert later.ok
    assert s3.keys(BUCKET) == [key(1, 1)]


def test_one_busy_answer_is_retried_at_once(s3, deliver):
    s3.fail(1, 503, "SlowDown")

    assert deliver(make_batch(1)).ok

    assert len(s3.requests) == 2
    assert s3.keys(BUCKET) == [key(1, 1)]


def test_a_store_that_is_down_is_tried_again_later(s3, deliver):
    s3.down = True
    down = deliver(make_batch(1))
    s3.down = False
    up = deliver(make_batch(1))

    assert down.retry
    assert down.message.startswith("EndpointConnectionError: Could not connect")
    assert up.ok


def test_a_connection_closed_unanswered_is_tried_again_later(s3, deliver):
    s3.close_connections = True

    outcome = deliver(make_batch(1))

    assert not outcome.ok and outcome.retry
    assert outcome.message.startswith("ConnectionClosedError")
    assert s3.keys(BUCKET) == []


def test_a_write_that_timed_out_after_it_was_stored_is_not_stored_twice(s3, deliver, monkeypatch):
    monkeypatch.setattr("app.streams.kinds.s3.TIMEOUT_SECONDS", 0.2)
    s3.slow_seconds = 1.0  # moto stores the object; its answer comes too late

    timed_out = deliver(make_batch(2))
    s3.slow_seconds = 0.0
    repeated = deliver(make_batch(2))

    assert timed_out.retry
    assert timed_out.message.startswith("ReadTimeoutError")
    assert repeated.ok and "already stored" in repeated.message
    assert s3.objects(BUCKET) == [(key(1, 2), parsed(make_batch(2)))]


def test_describe_says_where():
    assert (
        KIND.describe(KIND.check({"bucket": BUCKET, "access_key_id": "AKIA"}))
        == f"s3://{BUCKET}/auditlog (us-east-1)"
    )
    settings = KIND.check(
        {
            "bucket": BUCKET,
            "prefix": "",
            "endpoint_url": "https://acct.r2.cloudflarestorage.com/",
            "region": "auto",
            "access_key_id": "AKIA",
        }
    )
    assert KIND.describe(settings) == f"s3://{BUCKET} at acct.r2.cloudflarestorage.com"


def test_check_fills_the_defaults():
    assert KIND.check({"bucket": " audit-logs ", "access_key_id": " AKIAEXAMPLE "}) == {
        "bucket": "audit-logs",
        "prefix": "auditlog",
        "region": "us-east-1",
        "endpoint_url": "",
        "addressing_style": "auto",
        "access_key_id": "AKIAEXAMPLE",
    }


def test_check_normalises():
    checked = KIND.check(
        {
            "bucket": "logs.example.com",
            "prefix": "/a/b/",
            "region": "auto",
            "endpoint_url": "http://127.0.0.1:9000/",
            "addressing_style": "path",
            "access_key_id": "minio",
        }
    )

    assert checked == {
        "bucket": "logs.example.com",
        "prefix": "a/b",
        "region": "auto",
        "endpoint_url": "http://127.0.0.1:9000",
        "addressing_style": "path",
        "access_key_id": "minio",
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("bucket", ""),
        ("bucket", "ab"),
        ("bucket", "a" * 64),
        ("bucket", "Audit-Logs"),
        ("bucket", "audit_logs"),
        ("bucket", "-audit"),
        ("bucket", "audit-"),
        ("bucket", "audit..logs"),
        ("bucket", "192.168.1.1"),
        ("bucket", "xn--audit"),
        ("bucket", "audit-s3alias"),
        ("bucket", "audit logs"),
        ("prefix", "a//b"),
        ("prefix", "a/../b"),
        ("prefix", "journal d'été"),
        ("prefix", "x" * 513),
        ("region", "us east 1"),
        ("endpoint_url", "ftp://minio.example.test"),
        ("endpoint_url", "https://"),
        ("endpoint_url", "minio.example.test:9000"),
        ("endpoint_url", "https://key:secret@minio.example.test"),
        ("endpoint_url", "https://acct.r2.cloudflarestorage.com/audit-logs"),
        ("endpoint_url", "https://minio.example.test:port"),
        ("addressing_style", "dns"),
        ("access_key_id", ""),
        ("access_key_id", "   "),
        ("access_key_id", "AKIA EXAMPLE"),
        ("access_key_id", "A" * 129),
    ],
)
def test_check_refuses(field, value):
    settings = {"bucket": BUCKET, "access_key_id": "AKIAEXAMPLE"} | {field: value}

    with pytest.raises(ServiceError) as error:
        KIND.check(settings)

    assert error.value.field == field


def test_check_asks_for_the_access_key_id():
    with pytest.raises(ServiceError) as error:
        KIND.check({"bucket": BUCKET})

    assert error.value.field == "access_key_id"
    assert str(error.value) == "Enter the access key ID."


def test_the_kind_is_registered():
    from app.streams.kinds import kind_named

    kind = kind_named("s3")
    assert (kind.label, kind.workos_type, kind.max_batch) == ("S3-compatible storage", "S3", 1000)
    assert (kind.secret_label, kind.generates_secret) == ("Secret access key", False)
    assert [setting.name for setting in kind.settings] == [
        "bucket",
        "prefix",
        "region",
        "endpoint_url",
        "addressing_style",
        "access_key_id",
    ]
