"""Reading a stream's next events from the ledger, as the records its kinds deliver."""

from datetime import datetime

import orjson
from sqlalchemy import select

from app import database
from app.exports.formats import ndjson_line, plain
from app.exports.services import export_query
from app.extensions import db
from app.ids import new_id
from app.ledger.models import ChainHead, Event
from app.streams.kinds import Batch, Record
from app.timestamps import isoformat, utcnow

TEST_ACTION = "auditlog.stream_test"


MAX_BATCH_BYTES = 4_000_000  # a batch of large events stops here (it keeps at least one)


def next_batch(stream_id, org_id, cursor_seq, limit, through_seq=None):
    """The events after ``cursor_seq`` in ``seq`` order (through ``through_seq``, when a
    failed batch is retried as it was), at most ``limit`` and about ``MAX_BATCH_BYTES``,
    as a batch; ``None`` when there are none. Read in a read-only transaction of its own."""
    conditions = [Event.organization_id == org_id, Event.seq > cursor_seq]
    if through_seq is not None:
        conditions.append(Event.seq <= through_seq)
    query = export_query(
        conditions,
        db.engine.dialect.name,
        chained=True,
        order_by=(Event.seq,),
    ).limit(limit)
    with database.reads():
        # On the session's connection, past the ORM's result layer: plain column rows.
        rows = plain(db.session.connection().execute(query).all())
        records = [as_record(row) for row in rows]
    if not records:
        return None
    size = 0
    for count, record in enumerate(records):
        size += len(record.line)
        if size > MAX_BATCH_BYTES and count:
            records = records[:count]
            break
    return Batch(stream_id, org_id, records)


def as_record(row):
    """One row of ``export_query`` as a record: the NDJSON export's line, without its end."""
    return Record(
        id=row.id,
        seq=row.seq,
        hash=row.hash,
        action=row.action,
        received_at=datetime.fromisoformat(row.received_at),
        line=ndjson_line(row)[:-1],
    )


def head_of(org_id):
    """The organization's chain head: ``(last seq, purged through seq)``, (0, 0) before any
    event."""
    head = db.session.execute(
        select(ChainHead.seq, ChainHead.purged_through_seq).where(
            ChainHead.organization_id == org_id
        )
    ).first()
    return (head.seq, head.purged_through_seq) if head else (0, 0)


def first_waiting_received_at(org_id, cursor_seq):
    """When the oldest event not yet delivered was received (``None``: none waits)."""
    return db.session.scalar(
        select(Event.received_at)
        .where(Event.organization_id == org_id, Event.seq > cursor_seq)
        .order_by(Event.seq)
        .limit(1)
    )


def test_batch(stream):
    """A made-up event for "Send test event": it is not in the log, has no ``seq`` or
    ``hash`` (``null``), and says it is a test."""
    requested_by = stream.test_requested_by
    now = utcnow()
    record_id = new_id("test")
    event = {
        "id": record_id,
        "action": TEST_ACTION,
        "occurred_at": isoformat(now),
        "actor": {"type": "dashboard_user", "id": requested_by or "unknown", "name": requested_by},
        "targets": [{"type": "log_stream", "id": stream.id, "name": stream.name}],
        "context": {"location": "unknown", "user_agent": "auditlog-streams"},
        "metadata": {"test": True},
        "received_at": isoformat(now),
        "organization_id": stream.organization_id,
        "seq": None,
        "prev_hash": None,
        "hash": None,
        "test": True,
    }
    record = Record(record_id, 0, "", TEST_ACTION, now, orjson.dumps(event).decode())
    return Batch(stream.id, stream.organization_id, [record], test=True)
