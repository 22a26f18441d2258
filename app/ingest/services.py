"""The verbs of ingestion: store the API's accepted events, and replay idempotent requests."""

import hashlib
import threading

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.ingest.models import IDEMPOTENCY_WINDOW, IdempotencyRecord
from app.ingest.process import RemoteWriter, configured_address
from app.ingest.writer import EventWriter, Job, idempotency_record
from app.ledger import chain
from app.ledger.append import accepted_rows
from app.timestamps import utcnow


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
    rows, targets = accepted_rows(org_id, accepted, utcnow())
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
