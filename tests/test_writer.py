"""The event writer: group commit, isolation of a bad job, idempotency claims."""

import orjson
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.ingest.services import event_writer
from app.ingest.writer import CACHE_KIB, Job, idempotency_record
from app.ledger.models import Event, EventTarget
from app.timestamps import utcnow
from tests.conftest import run_in_threads


def row(org_id, event_id, action="user.signed_in"):
    now = utcnow()
    return {
        "id": event_id,
        "organization_id": org_id,
        "action": action,
        "version": 1,
        "occurred_at": now,
        "received_at": now,
        "actor_type": "user",
        "actor_id": "u1",
        "actor_name": None,
        "location": "127.0.0.1",
        "user_agent": None,
        "payload": "{}",
        "search_text": action,
    }


def stored_ids(app):
    with app.app_context():
        return set(db.session.scalars(select(Event.id)))


def test_many_jobs_in_one_transaction(app, make_org):
    org_id = make_org()
    with app.app_context():
        writer = event_writer()
        jobs = [Job(org_id, [row(org_id, f"evt_{i}")], []) for i in range(20)]
        writer.store(jobs)  # the group the thread would take at once
    assert all(job.stored and job.error is None for job in jobs)
    assert stored_ids(app) == {f"evt_{i}" for i in range(20)}


def test_a_bad_job_fails_alone(app, make_org):
    org_id = make_org()
    with app.app_context():
        writer = event_writer()
        bad = row(org_id, "evt_bad")
        bad["location"] = None  # NOT NULL
        jobs = [
            Job(org_id, [row(org_id, "evt_1")], []),
            Job(org_id, [bad], []),
            Job(org_id, [row(org_id, "evt_2")], []),
        ]
        writer.store(jobs)
    assert [job.error is None for job in jobs] == [True, False, True]
    assert stored_ids(app) == {"evt_1", "evt_2"}


def test_a_key_used_twice_in_one_group_stores_once(app, make_org):
    org_id = make_org()
    with app.app_context():
        writer = event_writer()
        record = idempotency_record(org_id, "k", "fingerprint", {"success": True})
        jobs = [Job(org_id, [row(org_id, f"evt_{i}")], [], dict(record)) for i in range(3)]
        writer.store(jobs)
    assert [job.stored for job in jobs] == [True, False, False]
    assert stored_ids(app) == {"evt_0"}


def test_submit_from_many_threads(app, make_org):
    org_id = make_org()

    def send(index):
        with app.app_context():
            event_writer().submit(Job(org_id, [row(org_id, f"evt_{index}")], []))

    assert run_in_threads(send, [(i,) for i in range(40)]) == []
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event)) == 40


def test_a_failure_is_raised_to_the_request(app, make_org):
    org_id = make_org()
    with app.app_context():
        bad = row(org_id, "evt_bad")
        bad["location"] = None
        with pytest.raises(Exception, match=r"NOT NULL|null value"):
            event_writer().submit(Job(org_id, [bad], []))
        # The writer carries on.
        event_writer().submit(Job(org_id, [row(org_id, "evt_ok")], []))
    assert stored_ids(app) == {"evt_ok"}


def test_text_is_stored_exactly_whatever_it_holds(app, make_org):
    """Tabs, newlines, backslashes, a literal ``\\N`` and non-ASCII text come back as
    written, and None as NULL (PostgreSQL's COPY escapes all of them)."""
    org_id = make_org()
    awkward = 'tab\there\nnew line\r\\N back\\slash "quoted" \u00e9\u4e2d\U0001f600 ,;|'
    event = row(org_id, "evt_awkward")
    event.update(
        actor_name=awkward, user_agent=None, payload=orjson.dumps({"name": awkward}).decode()
    )
    target = {
        "event_id": "evt_awkward",
        "organization_id": org_id,
        "position": 0,
        "type": "team",
        "target_id": "\\N",
        "name": awkward,
        "occurred_at": event["occurred_at"],
    }
    with app.app_context():
        event_writer().submit(Job(org_id, [event], [target]))
        stored = db.session.scalars(select(Event)).one()
        stored_target = db.session.scalars(select(EventTarget)).one()
        assert stored.actor_name == awkward
        assert stored.user_agent is None
        assert orjson.loads(stored.payload) == {"name": awkward}
        assert stored.occurred_at == event["occurred_at"]
        assert (stored_target.target_id, stored_target.name) == ("\\N", awkward)
        assert stored_target.occurred_at == event["occurred_at"]


def test_the_writers_sqlite_connection_has_a_large_page_cache(app):
    with app.app_context():
        writer = event_writer()
        if writer.dialect != "sqlite":
            pytest.skip("a SQLite setting")
        cursor = writer.connect().driver_connection.execute("PRAGMA cache_size")
        assert cursor.fetchone()[0] == -CACHE_KIB


def test_bulk_values_are_each_rows_converted_values(app):
    """Values met again are converted once, and come out as converting each would."""
    from datetime import UTC, datetime, timedelta, timezone

    from app.ledger.append import TARGETS, BulkInsert

    with app.app_context():
        dialect = db.engine.dialect
    bulk = BulkInsert(TARGETS, dialect)
    converting = []  # every value a converter was called with
    bulk.converters = [
        (index, lambda value, convert=convert: converting.append(value) or convert(value))
        for index, convert in bulk.converters
    ]
    moment = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
    same_elsewhere = moment.astimezone(timezone(timedelta(hours=-5)))  # equal, other zone
    times = [moment, moment + timedelta(microseconds=1), same_elsewhere, moment]
    rows = [
        {"event_id": f"evt_{i}", "organization_id": "org_1", "position": i, "type": "t"}
        | {"target_id": "x", "name": None, "occurred_at": when}
        for i, when in enumerate(times)
    ]
    columns = [column for column in TARGETS.columns if not column.primary_key]

    def converted(column, value):
        convert = column.type.dialect_impl(dialect).bind_processor(dialect)
        return convert(value) if convert else value

    expected = [[converted(column, row[column.name]) for column in columns] for row in rows]
    assert bulk.values(rows) == expected
    assert expected[0][-1] == expected[2][-1] != expected[1][-1]
    # The last row's timestamp is the first row's object: converted once, not twice.
    assert [id(value) for value in converting] == [id(value) for value in times[:3]]


def test_bulk_values_tell_equal_datetimes_of_different_instants_apart(app):
    """Two datetimes an hour apart compare equal when only their ``fold`` differs."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from app.ledger.append import TARGETS, BulkInsert

    with app.app_context():
        dialect = db.engine.dialect
    first = datetime(2024, 11, 3, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)  # the same wall time, an hour later
    assert first == second
    rows = [
        {"event_id": f"evt_{i}", "organization_id": "org_1", "position": 0, "type": "t"}
        | {"target_id": "x", "name": None, "occurred_at": when}
        for i, when in enumerate([first, second])
    ]
    stored = [values[-1] for values in BulkInsert(TARGETS, dialect).values(rows)]
    assert stored[0] != stored[1]
