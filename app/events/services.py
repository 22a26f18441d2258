"""The verbs of events: store accepted events, and replay idempotent requests.

Events are only ever inserted. Nothing here (or anywhere else but the documented
retention purge) updates or deletes them.
"""

import hashlib
import threading

import orjson
from flask import current_app
from sqlalchemy import select

from app.events import search
from app.events.models import IdempotencyRecord
from app.events.writer import IDEMPOTENCY_WINDOW, EventWriter, Job, idempotency_record
from app.events.writer_process import RemoteWriter, configured_address
from app.extensions import db
from app.ids import new_id, new_ids
from app.integrity import chain
from app.timestamps import isoformat_exact, utcnow


def stored_payload(raw, occurred_at):
    """The event as the API accepted it, with ``occurred_at`` normalised to UTC."""
    return {**raw, "occurred_at": isoformat_exact(occurred_at)}


def event_row(org_id, raw, parsed, received_at, event_id=None):
    """The events-table row for one accepted event (a fresh id unless given one)."""
    occurred_at, actor, context = parsed["occurred_at"], parsed["actor"], parsed["context"]
    actor_name = actor.get("name")
    return {
        "id": event_id or new_id("evt"),
        "organization_id": org_id,
        "action": parsed["action"],
        "version": parsed.get("version") or 1,
        "occurred_at": occurred_at,
        "received_at": received_at,
        "actor_type": actor["type"],
        "actor_id": actor["id"],
        "actor_name": actor_name,
        "location": context["location"],
        "user_agent": context.get("user_agent"),
        "payload": orjson.dumps(stored_payload(raw, occurred_at)).decode(),
        "search_text": search.haystack(
            parsed["action"], actor_name, [target.get("name") for target in parsed["targets"]]
        ),
    }


def target_rows(row, parsed):
    """The event_targets rows of one event's row."""
    return [
        {
            "event_id": row["id"],
            "organization_id": row["organization_id"],
            "position": position,
            "type": target["type"],
            "target_id": target["id"],
            "name": target.get("name"),
            "occurred_at": parsed["occurred_at"],
        }
        for position, target in enumerate(parsed["targets"])
    ]


def event_writer():
    """This process's event writer for the current app, started on first use."""
    writer = current_app.extensions.get("auditlog.event_writer")
    if writer is None:
        with _writer_lock:
            writer = current_app.extensions.get("auditlog.event_writer")
            if writer is None:
                writer = EventWriter(db.engine)
                remote = configured_address(current_app.config)
                if remote is not None:
                    writer = RemoteWriter(*remote, fallback=writer)
                current_app.extensions["auditlog.event_writer"] = writer
    return writer


_writer_lock = threading.Lock()


def store_events(org_id, accepted, idempotency=None):
    """Store events (pairs of the raw dict and its parsed shape), with their targets.

    ``idempotency`` is ``(key, fingerprint, answer)`` when the request had a key.
    Returns once the events are committed: True, or False if the key was already
    taken (nothing was stored; replay the first answer).
    """
    received_at = utcnow()
    rows, targets = [], []
    for (raw, parsed), event_id in zip(accepted, new_ids("evt", len(accepted)), strict=True):
        row = event_row(org_id, raw, parsed, received_at, event_id)
        rows.append(row)
        targets.extend(target_rows(row, parsed))
    record = idempotency_record(org_id, *idempotency) if idempotency else None
    job = event_writer().submit(Job(org_id, rows, targets, record))
    return job.stored


def request_fingerprint(body):
    """SHA-256 of the request body's JSON, independent of key order and whitespace: its
    canonical JSON (``json.dumps(body, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)``), written by orjson unless a metadata value is a fractional
    number. ``body`` has passed the shape check: metadata is the only place for one."""
    events = body["events"] if "events" in body else [body["event"]]
    holds_float = any(chain.has_float(event) for event in events)
    return hashlib.sha256(chain.canonical_json(body, holds_float)).hexdigest()


def find_idempotency_record(org_id, key):
    """The remembered answer for this key in the last 24 hours, or ``None``."""
    record = db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.organization_id == org_id, IdempotencyRecord.key == key
        )
    )
    if record is None or utcnow() - record.created_at > IDEMPOTENCY_WINDOW:
        return None
    return record
