"""Delivery through the streams queue, to a webhook receiver that verifies each
signature with the ``standardwebhooks`` package: every event once, in seq order, with
retries, backoff, failing and paused states, test events and the lease."""

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import database
from app.extensions import db
from app.jobs.lease import claim_next
from app.ledger.models import GENESIS_HASH, Event
from app.streams import delivery, secrets
from app.streams.models import LogStream, StreamState
from app.timestamps import utcnow
from tests.conftest import seed_event
from tests.streams.helpers import after_backoff, drain, make_stream, stream_row
from tests.streams.receivers.webhook import WebhookReceiver


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def org_id(make_org):
    return make_org("Acme")


def events(count, action="user.signed_in"):
    return [seed_event(action=action, metadata={"n": str(n)}) for n in range(count)]


def stored(app, org_id):
    """The organization's events as stored: (id, seq, hash), in seq order."""
    with app.app_context(), database.reads():
        return [
            tuple(row)
            for row in db.session.execute(
                select(Event.id, Event.seq, Event.hash)
                .where(Event.organization_id == org_id)
                .order_by(Event.seq)
            )
        ]


def webhook_stream(app, org_id, receiver, **options):
    stream_id, secret = make_stream(app, org_id, settings={"url": receiver.url}, **options)
    receiver.secret = secret
    return stream_id


def assert_delivered_once_in_order(app, org_id, receiver):
    expected = stored(app, org_id)
    unique = receiver.unique_records()
    assert [(r["id"], r["seq"], r["hash"]) for r in unique] == expected
    # Repeats are whole batches, and nothing arrives out of order apart from them.
    first_arrivals, seen = [], set()
    for key, batch in receiver.batches:
        if key not in seen:
            seen.add(key)
            first_arrivals.extend(record["seq"] for record in batch)
    assert first_arrivals == sorted(set(first_arrivals))
    assert not receiver.refused


def test_every_event_arrives_once_in_seq_order_with_its_chain_fields(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(3))
    stream_id = webhook_stream(app, org_id, receiver)
    make_events(org_id, *events(2, action="user.signed_out"))
    assert drain(app) == 1
    assert_delivered_once_in_order(app, org_id, receiver)
    first = receiver.records[0]
    assert first["action"] == "user.signed_in" and first["organization_id"] == org_id
    assert first["prev_hash"] == GENESIS_HASH  # the organization's first event
    assert [r["prev_hash"] for r in receiver.records[1:]] == [
        r["hash"] for r in receiver.records[:-1]
    ]
    key, _batch = receiver.batches[0]
    assert key == f"{stream_id}_1_5"
    row = stream_row(app, stream_id)
    assert (row.cursor_seq, row.delivered_events, row.delivered_batches) == (5, 5, 1)
    assert row.state == StreamState.ACTIVE and row.last_success_at is not None
    assert row.job_state == "idle" and row.attempts == 0
    # Nothing new: no round, nothing sent again.
    assert drain(app) == 0
    assert len(receiver.batches) == 1


def test_the_signature_is_the_specifications_hmac(app, org_id, make_events, receiver):
    """Checked by hand too, not only with the library that shares our signing code."""
    make_events(org_id, *events(1))
    webhook_stream(app, org_id, receiver)
    drain(app)
    ((headers, body),) = receiver.raw
    key = base64.b64decode(receiver.secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{digest}"
    assert "." not in headers["webhook-id"]


def test_a_start_from_now_skips_what_was_there(app, org_id, make_events, receiver):
    make_events(org_id, *events(3))
    webhook_stream(app, org_id, receiver, start="now")
    make_events(org_id, *events(1))
    drain(app)
    assert [record["seq"] for record in receiver.records] == [4]


def test_big_backlogs_go_in_batches_in_order(app, org_id, make_events, receiver):
    make_events(org_id, *events(2100))
    stream_id = webhook_stream(app, org_id, receiver)
    drain(app)
    assert [key for key, _batch in receiver.batches] == [
        f"{stream_id}_1_1000",
        f"{stream_id}_1001_2000",
        f"{stream_id}_2001_2100",
    ]
    assert_delivered_once_in_order(app, org_id, receiver)


def test_another_organizations_events_are_never_sent(app, org_id, make_org, make_events, receiver):
    other = make_org("Globex")
    make_events(other, *events(3))
    webhook_stream(app, org_id, receiver)
    make_events(org_id, *events(1))
    make_events(other, *events(2))
    drain(app)
    assert {record["organization_id"] for record in receiver.records} == {org_id}
    assert len(receiver.records) == 1


def test_a_server_error_is_retried_after_a_backoff_and_nothing_is_lost(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(3))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((503, b"overloaded", {}))
    drain(app)
    row = stream_row(app, stream_id)
    assert row.cursor_seq == 0 and row.failures == 1
    assert "HTTP 503: overloaded" in row.last_error
    assert row.next_attempt_at is not None and row.state == StreamState.ACTIVE
    # Waiting out its backoff (with full jitter it may be very short: ask just before).
    assert drain(app, now=row.next_attempt_at - timedelta(milliseconds=1)) == 0
    drain(app, now=after_backoff(row))
    row = stream_row(app, stream_id)
    assert row.cursor_seq == 3 and row.failures == 0 and row.next_attempt_at is None
    assert_delivered_once_in_order(app, org_id, receiver)


def test_retry_after_is_honoured(app, org_id, make_events, receiver):
    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((429, b"slow down", {"Retry-After": "120"}))
    before = utcnow()
    drain(app)
    row = stream_row(app, stream_id)
    assert row.next_attempt_at >= before + timedelta(seconds=120)
    assert drain(app, now=before + timedelta(seconds=60)) == 0
    drain(app, now=after_backoff(row))
    assert_delivered_once_in_order(app, org_id, receiver)


def test_a_receiver_that_is_down_or_drops_connections_loses_nothing(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(4))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.stop()
    drain(app)
    row = stream_row(app, stream_id)
    assert row.failures == 1 and "Connect" in row.last_error
    receiver.start()
    receiver.close_connections = True
    drain(app, now=after_backoff(row))
    receiver.close_connections = False
    row = stream_row(app, stream_id)
    assert len(receiver.requests) == 1 and "disconnected" in row.last_error
    assert (row.failures, row.cursor_seq) == (2, 0)
    drain(app, now=after_backoff(row))
    assert_delivered_once_in_order(app, org_id, receiver)


def test_five_failures_make_it_failing_then_a_success_makes_it_active(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.extend([(500, b"boom", {})] * 5)
    now = utcnow()
    for _ in range(5):
        drain(app, now=now)
        now = after_backoff(stream_row(app, stream_id))
    row = stream_row(app, stream_id)
    assert (row.state, row.failures) == (StreamState.FAILING, 5)
    drain(app, now=now)
    row = stream_row(app, stream_id)
    assert (row.state, row.failures, row.cursor_seq) == (StreamState.ACTIVE, 0, 1)


def test_a_day_of_failures_pauses_it_and_resuming_goes_on_from_the_cursor(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(2))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((502, b"bad gateway", {}))
    drain(app)
    with app.app_context(), database.writes():
        # A day has passed since the first failure.
        row = db.session.get(LogStream, stream_id)
        row.failing_since = utcnow() - timedelta(hours=25)
    receiver.answers.append((502, b"bad gateway", {}))
    drain(app, now=after_backoff(stream_row(app, stream_id)))
    row = stream_row(app, stream_id)
    assert row.state == StreamState.PAUSED and "24 hours" in row.state_reason
    assert drain(app, now=utcnow() + timedelta(days=1)) == 0  # paused: nothing is sent
    resume(app, org_id, stream_id)
    drain(app)
    assert_delivered_once_in_order(app, org_id, receiver)


def resume(app, org_id, stream_id):
    from app.streams import services

    with app.app_context(), database.writes():
        services.resume_stream(db.session.get(LogStream, stream_id), actor=None)


def test_a_refusal_pauses_it_at_once_and_is_recorded(app, org_id, make_events, receiver):
    from app.ledger.models import Event as Stored

    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((401, b"who are you", {}))
    drain(app)
    row = stream_row(app, stream_id)
    assert row.state == StreamState.PAUSED
    assert "who are you" in row.state_reason and "HTTP 401" in row.last_error
    with app.app_context():
        paused = db.session.scalars(
            select(Stored).where(Stored.action == "dashboard.log_stream_paused")
        ).all()
    assert len(paused) == 1 and paused[0].actor_type == "system"


def test_a_wrong_signature_is_refused_by_the_receiver(app, org_id, make_events, receiver):
    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    drain(app)
    assert receiver.refused and not receiver.batches
    assert stream_row(app, stream_id).state == StreamState.PAUSED


def test_a_test_event_is_sent_without_moving_the_cursor(app, org_id, make_events, receiver):
    from app.streams import services

    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver, start="now")
    with app.app_context(), database.writes():
        services.request_test(db.session.get(LogStream, stream_id), requested_by="ada@example.com")
    assert stream_row(app, stream_id).test_pending
    drain(app)
    row = stream_row(app, stream_id)
    assert row.test_ok is True and not row.test_pending and row.cursor_seq == 1
    (record,) = receiver.records
    assert record["test"] is True and record["seq"] is None
    assert record["action"] == "auditlog.stream_test"
    key, _batch = receiver.batches[0]
    assert key == f"{stream_id}_test_{record['id']}"


def test_a_failed_test_event_says_why(app, org_id, receiver):
    from app.streams import services

    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((404, b"no such hook", {}))
    with app.app_context(), database.writes():
        services.request_test(db.session.get(LogStream, stream_id), requested_by="cli")
    drain(app)
    row = stream_row(app, stream_id)
    assert row.test_ok is False and "HTTP 404: no such hook" in row.test_result
    assert row.state == StreamState.ACTIVE  # a test never changes the stream's state


def test_a_worker_that_died_mid_batch_is_taken_over_and_the_batch_sent_again(
    app, org_id, make_events, receiver
):
    """The first worker sent the batch and died before moving the cursor: the next one,
    after the lease, sends it again (at least once); deduplicated, each event once."""
    make_events(org_id, *events(3))
    stream_id = webhook_stream(app, org_id, receiver)
    with app.app_context():
        now = utcnow()
        claimed = claim_next(
            delivery.STREAMS,
            "dead-worker",
            now,
            delivery.give_up,
            order_by=(LogStream.id,),
            where=(delivery.has_work(now),),
        )
        assert claimed.id == stream_id
    # Before the lease runs out nobody else takes it.
    assert drain(app) == 0
    drain(app, now=utcnow() + delivery.LEASE + timedelta(seconds=1))
    assert_delivered_once_in_order(app, org_id, receiver)
    row = stream_row(app, stream_id)
    assert row.cursor_seq == 3 and row.attempts == 0 and row.worker == "test-worker"


def test_a_stream_whose_worker_keeps_dying_is_paused(app, org_id, make_events, receiver):
    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    now = utcnow()
    with app.app_context():
        for _attempt in range(delivery.MAX_CRASHES + 1):
            claim_next(
                delivery.STREAMS,
                "dying-worker",
                now,
                delivery.give_up,
                order_by=(LogStream.id,),
                where=(delivery.has_work(now),),
            )
            now += delivery.LEASE + timedelta(seconds=1)
    row = stream_row(app, stream_id)
    assert row.state == StreamState.PAUSED and "crashed or was killed" in row.state_reason
    assert not receiver.records


def test_secrets_are_stored_encrypted(app, org_id, receiver):
    stream_id = webhook_stream(app, org_id, receiver)
    row = stream_row(app, stream_id)
    assert receiver.secret.startswith("whsec_")
    assert receiver.secret not in row.secret_encrypted
    with app.app_context():
        assert secrets.decrypt(row.secret_encrypted) == receiver.secret


def test_a_secret_under_another_key_pauses_the_stream_with_a_clear_error(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    app.config["STREAM_SECRETS_KEY"] = "another key"
    drain(app)
    row = stream_row(app, stream_id)
    assert row.state == StreamState.PAUSED and "Enter the secret again" in row.last_error
    assert not receiver.records


def test_events_stored_while_a_round_catches_up_are_not_skipped(
    app, org_id, make_events, receiver, monkeypatch
):
    """An event committed between the batch's read and the head's is sent next time, not
    taken for one retention purged."""
    from app.streams import records

    make_events(org_id, *events(2))
    stream_id = webhook_stream(app, org_id, receiver)
    head_of = records.head_of
    added = []

    def head_after_an_insert(org):
        if not added:
            added.append(make_events(org_id, *events(1)))
        return head_of(org)

    monkeypatch.setattr(records, "head_of", head_after_an_insert)
    drain(app)
    row = stream_row(app, stream_id)
    assert row.purged_unsent == 0 and row.cursor_seq == 3
    assert_delivered_once_in_order(app, org_id, receiver)


def test_a_long_refusal_pauses_the_stream_with_its_answer_cut_to_fit(
    app, org_id, make_events, receiver
):
    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((403, b"<html>" + b"x" * 3000 + b"</html>", {}))
    drain(app)
    row = stream_row(app, stream_id)
    assert row.state == StreamState.PAUSED and row.job_state == "idle"
    assert row.last_error.startswith("HTTP 403: <html>")


def test_a_failed_batch_is_retried_as_it_was(app, org_id, make_events, receiver):
    """Its key and events stay the same, though more events arrived meanwhile."""
    make_events(org_id, *events(2))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.answers.append((503, b"busy", {}))
    drain(app)
    make_events(org_id, *events(3))
    drain(app, now=after_backoff(stream_row(app, stream_id)))
    keys = [key for key, _batch in receiver.batches]
    assert keys == [f"{stream_id}_1_2", f"{stream_id}_3_5"]
    assert stream_row(app, stream_id).pending_last_seq is None


def test_a_test_event_is_sent_once_whatever_the_workers_clock(app, org_id, receiver):
    from app.streams import services

    stream_id = webhook_stream(app, org_id, receiver)
    with app.app_context(), database.writes():
        services.request_test(db.session.get(LogStream, stream_id), requested_by="cli")
    drain(app, now=utcnow() - timedelta(minutes=5), limit=3)  # a worker 5 minutes behind
    assert len(receiver.records) == 1 and not stream_row(app, stream_id).test_pending


def test_a_round_that_fails_inside_hands_the_stream_back(
    app, org_id, make_events, receiver, monkeypatch
):
    from app.streams import records

    make_events(org_id, *events(1))
    stream_id = webhook_stream(app, org_id, receiver)

    def broken(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(records, "next_batch", broken)
    drain(app)
    row = stream_row(app, stream_id)
    assert row.job_state == "idle" and "database is locked" in row.last_error
    assert row.next_attempt_at is not None
    monkeypatch.undo()
    drain(app, now=after_backoff(row))
    assert_delivered_once_in_order(app, org_id, receiver)


def test_a_receiver_too_slow_to_answer_is_retried_and_deduplicated(
    app, org_id, make_events, receiver, monkeypatch
):
    """The request times out while the receiver still works on it; it then takes the
    batch after all, and the retry sends it again: deduplicated, each event once."""
    import threading

    from app.streams import kinds

    monkeypatch.setattr(kinds, "TIMEOUT_SECONDS", 0.2)
    make_events(org_id, *events(3))
    stream_id = webhook_stream(app, org_id, receiver)
    receiver.hold = threading.Event()
    drain(app)
    row = stream_row(app, stream_id)
    assert row.cursor_seq == 0 and "Timeout" in row.last_error
    receiver.release()  # the receiver finishes the request the worker gave up on
    drain(app, now=after_backoff(row))
    assert len(receiver.batches) == 2  # the same batch, twice
    assert_delivered_once_in_order(app, org_id, receiver)
