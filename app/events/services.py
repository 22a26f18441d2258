"""The verbs of events: store accepted events, and replay idempotent requests.

Events are only ever inserted. Nothing here (or anywhere else but the documented
retention purge) updates or deletes them.
"""

import hashlib
import json
from datetime import timedelta

from sqlalchemy import delete, insert, select

from app.events.models import Event, EventTarget, IdempotencyRecord
from app.extensions import db
from app.ids import new_id
from app.timestamps import isoformat_exact, utcnow

IDEMPOTENCY_WINDOW = timedelta(hours=24)


def stored_payload(raw, occurred_at):
    """The event as the API accepted it, with ``occurred_at`` normalised to UTC."""
    return {**raw, "occurred_at": isoformat_exact(occurred_at)}


def event_row(org_id, raw, parsed, received_at):
    """The events-table row for one accepted event."""
    payload = stored_payload(raw, parsed.occurred_at)
    return {
        "id": new_id("evt"),
        "organization_id": org_id,
        "action": parsed.action,
        "version": parsed.version or 1,
        "occurred_at": parsed.occurred_at,
        "received_at": received_at,
        "actor_type": parsed.actor.type,
        "actor_id": parsed.actor.id,
        "actor_name": parsed.actor.name,
        "location": parsed.context.location,
        "user_agent": parsed.context.user_agent,
        "payload": json.dumps(payload, separators=(",", ":"), ensure_ascii=False),
    }


def store_events(org_id, accepted):
    """Insert events (pairs of the raw dict and its parsed shape) and their targets.

    Two statements for the whole batch: the events (returning their keys in order) and
    then every target. Returns the number stored.
    """
    received_at = utcnow()
    rows = [event_row(org_id, raw, parsed, received_at) for raw, parsed in accepted]
    table = Event.__table__
    keys = db.session.scalars(
        insert(table).returning(table.c.pk, sort_by_parameter_order=True), rows
    ).all()
    targets = [
        {
            "event_pk": key,
            "organization_id": org_id,
            "position": position,
            "type": target.type,
            "target_id": target.id,
            "name": target.name,
        }
        for key, (_raw, parsed) in zip(keys, accepted, strict=True)
        for position, target in enumerate(parsed.targets)
    ]
    if targets:
        db.session.execute(insert(EventTarget.__table__), targets)
    return len(rows)


def request_fingerprint(body):
    """SHA-256 of the request body's JSON, independent of key order and whitespace."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def find_idempotency_record(org_id, key):
    """The remembered answer for this key, or ``None`` (also when it is older than 24 hours)."""
    record = db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == org_id, IdempotencyRecord.key == key
        )
    )
    if record is None or utcnow() - record.created_at > IDEMPOTENCY_WINDOW:
        return None
    return record


def remember_response(org_id, key, fingerprint, status_code, body):
    """Record the answer to an idempotent request, in the transaction that stores its events.

    An expired record for the same key is replaced. If another request with this key
    committed first, the unique constraint makes the flush (or the commit) fail with
    ``IntegrityError``, and the caller replays that request's answer.
    """
    db.session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == org_id,
            IdempotencyRecord.key == key,
            IdempotencyRecord.created_at < utcnow() - IDEMPOTENCY_WINDOW,
        )
    )
    db.session.add(
        IdempotencyRecord(
            organization_id=org_id,
            key=key,
            request_hash=fingerprint,
            status_code=status_code,
            response_body=json.dumps(body, separators=(",", ":")),
        )
    )
    db.session.flush()


def purge_idempotency_records(now=None):
    """Delete records older than the 24-hour window; returns how many."""
    cutoff = (now or utcnow()) - IDEMPOTENCY_WINDOW
    result = db.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < cutoff)
    )
    return result.rowcount
