"""Log streams: creating, changing, pausing, resuming and deleting them (each recorded in
the organization's own log), asking for a test event, and their health."""

from dataclasses import dataclass

import orjson
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.jobs import runner
from app.service_errors import ServiceError
from app.streams import records, secrets
from app.streams.delivery import NAME as QUEUE
from app.streams.kinds import kind_named
from app.streams.models import LogStream, StreamState
from app.timestamps import isoformat, utcnow
from app.trail import services as trail

MAX_NAME = 200
MAX_SECRET = 4096
STARTS = ("beginning", "now")  # where a new stream's cursor starts

# What the configuration endpoint calls the states (WorkOS has active, inactive, error).
WORKOS_STATES = {
    StreamState.ACTIVE: "active",
    StreamState.FAILING: "error",
    StreamState.PAUSED: "inactive",
    StreamState.DISABLED: "inactive",
}


def streams_of(org):
    """The organization's streams, oldest first."""
    return db.session.scalars(
        select(LogStream)
        .where(LogStream.organization_id == org.id)
        .order_by(LogStream.created_at, LogStream.id)
    ).all()


def get_stream(org, stream_id):
    """The organization's stream with this id, or ``None`` (another organization's too)."""
    return db.session.scalar(
        select(LogStream).where(LogStream.id == stream_id, LogStream.organization_id == org.id)
    )


def checked_name(name):
    name = (name or "").strip()
    if not name:
        raise ServiceError("Give the stream a name.", field="name")
    if len(name) > MAX_NAME:
        raise ServiceError(f"The name is longer than {MAX_NAME} characters.", field="name")
    return name


def checked_secret(kind, secret, required):
    """The secret an admin gave (kinds whose secret we do not make), stripped."""
    if kind.secret_label is None or kind.generates_secret:
        return None
    secret = (secret or "").strip()
    if not secret:
        if required:
            raise ServiceError(f"Enter the {kind.secret_label.lower()}.", field="secret")
        return None
    if not all(" " < character <= "~" for character in secret):
        # It goes into a request header: a line break or a non-ASCII letter would break
        # every request (and the error would quote the secret).
        raise ServiceError(
            f"The {kind.secret_label.lower()} may hold only printable ASCII characters, "
            "without spaces.",
            field="secret",
        )
    if len(secret) > MAX_SECRET:
        raise ServiceError(
            f"The {kind.secret_label.lower()} is longer than {MAX_SECRET} characters.",
            field="secret",
        )
    return secret


def stream_target(stream):
    return trail.Target("log_stream", stream.id, stream.name, {"kind": stream.kind})


def changed_by(stream, action, actor, metadata=None):
    """Mark the stream changed (a round in progress ends early to take the change) and
    record the change in its organization's log."""
    stream.changed_at = utcnow()
    db.session.flush()
    trail.record(stream.organization_id, action, actor, [stream_target(stream)], metadata)


def create_stream(org, kind_name, name, settings, *, secret=None, start="beginning", actor):
    """Add a stream; ``(stream, secret to show once)``: the secret we made (webhooks), else
    ``None``. ``start``: deliver every event the organization keeps, or only new ones."""
    kind = kind_named(kind_name)
    name = checked_name(name)
    checked = kind.check(settings)
    if start not in STARTS:
        raise ServiceError("Start from the beginning or from now.", field="start")
    given = checked_secret(kind, secret, required=True)
    shown = None
    if kind.generates_secret:
        given = shown = kind.new_secret()
    head_seq = records.head_of(org.id)[0] if start == "now" else 0
    stream = LogStream(
        organization_id=org.id,
        name=name,
        kind=kind.name,
        settings=orjson.dumps(checked).decode(),
        secret_encrypted=secrets.encrypt(given),
        cursor_seq=head_seq,
        state=StreamState.ACTIVE,
    )
    db.session.add(stream)
    db.session.flush()
    metadata = {
        "kind": kind.name,
        "destination": trail.clipped(kind.describe(checked)),
        "start": start,
    }
    trail.record(org.id, "dashboard.log_stream_created", actor, [stream_target(stream)], metadata)
    wake()
    return stream, shown


def update_stream(stream, name, settings, *, secret=None, actor):
    """Change a stream's name and settings (and its secret, when one is given); its
    cursor stays, so nothing is skipped or sent twice by the change."""
    kind = kind_named(stream.kind)
    name = checked_name(name)
    checked = kind.check(settings)
    given = checked_secret(kind, secret, required=False)
    before = stream.parsed_settings
    changed = sorted(
        key for key in set(before) | set(checked) if before.get(key) != checked.get(key)
    )
    if name != stream.name:
        changed.insert(0, "name")
    if given is not None:
        changed.append("secret")
    if not changed:
        return stream
    stream.name = name
    stream.settings = orjson.dumps(checked).decode()
    if given is not None:
        stream.secret_encrypted = secrets.encrypt(given)
    # New settings deserve a try now, not at the end of a backoff meant for the old ones.
    stream.next_attempt_at = None
    metadata = {"changed": ", ".join(changed), "destination": trail.clipped(kind.describe(checked))}
    changed_by(stream, "dashboard.log_stream_updated", actor, metadata)
    wake()
    return stream


def rotate_secret(stream, *, actor):
    """A new signing secret for a kind whose secret we make; the secret, to show once."""
    kind = kind_named(stream.kind)
    if not kind.generates_secret:
        raise ServiceError(f"Enter the new {kind.secret_label.lower()} in the stream's settings.")
    shown = kind.new_secret()
    stream.secret_encrypted = secrets.encrypt(shown)
    changed_by(stream, "dashboard.log_stream_updated", actor, {"changed": "secret"})
    return shown


def pause_stream(stream, *, actor):
    """An admin pauses a stream (``disabled``): nothing is sent until it is resumed, from
    its cursor."""
    if stream.state == StreamState.DISABLED:
        return stream
    stream.state = StreamState.DISABLED
    who = trail.as_actor(actor).name if actor is not None else "an admin"
    stream.state_reason = f"Paused by {who}."
    changed_by(stream, "dashboard.log_stream_paused", actor)
    return stream


def resume_stream(stream, *, actor):
    """Deliver again from the cursor (after an admin's pause, or the service's)."""
    if stream.state == StreamState.ACTIVE and stream.next_attempt_at is None:
        return stream
    previous = stream.state
    stream.state, stream.state_reason = StreamState.ACTIVE, None
    stream.failures, stream.failing_since, stream.next_attempt_at = 0, None, None
    changed_by(stream, "dashboard.log_stream_resumed", actor, {"previous_state": str(previous)})
    wake()
    return stream


def delete_stream(stream, *, actor):
    """Remove a stream (the events stay in the log: only their delivery ends)."""
    target = stream_target(stream)
    org_id = stream.organization_id
    db.session.delete(stream)
    db.session.flush()
    trail.record(org_id, "dashboard.log_stream_deleted", actor, [target])


def request_test(stream, *, requested_by):
    """Ask the runner to send a made-up test event (it never runs in a request)."""
    stream.test_requested_at = utcnow()
    stream.test_requested_by = requested_by
    stream.test_ok = stream.test_result = None
    db.session.flush()
    wake()
    return stream


def wake():
    """Tell this process's runner a stream has work (others find it at their poll)."""
    runner.notify(current_app._get_current_object(), QUEUE)


@dataclass(frozen=True)
class Health:
    """How far behind a stream is, as its page and the CLI show it."""

    head_seq: int
    lag_events: int
    lag_seconds: float | None  # how long the oldest undelivered event has waited


def health(stream, now=None):
    """How far behind the stream is (read now)."""
    now = now or utcnow()
    head_seq, _purged = records.head_of(stream.organization_id)
    lag = max(0, head_seq - stream.cursor_seq)
    waiting = (
        records.first_waiting_received_at(stream.organization_id, stream.cursor_seq)
        if lag
        else None
    )
    seconds = max(0.0, (now - waiting).total_seconds()) if waiting else None
    return Health(head_seq, lag, seconds)


def describe(stream):
    """Where the stream delivers, in a few words."""
    return kind_named(stream.kind).describe(stream.parsed_settings)


def configuration_stream(org):
    """The stream the configuration endpoint reports (WorkOS has one per organization):
    the oldest one not disabled, else ``None``."""
    return db.session.scalar(
        select(LogStream)
        .where(LogStream.organization_id == org.id, LogStream.state != StreamState.DISABLED)
        .order_by(LogStream.created_at, LogStream.id)
        .limit(1)
    )


def workos_json(stream):
    """``log_stream`` as WorkOS's configuration endpoint has it."""
    return {
        "id": stream.id,
        "type": kind_named(stream.kind).workos_type,
        "state": WORKOS_STATES[StreamState(stream.state)],
        "created_at": isoformat(stream.created_at),
        "last_synced_at": isoformat(stream.last_success_at) if stream.last_success_at else None,
    }
