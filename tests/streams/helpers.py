"""Shared steps of the stream tests: make a stream through the service, run rounds as
the runner would, read a stream's row."""

from datetime import timedelta

from app import database
from app.extensions import db
from app.orgs.models import Organization
from app.streams import delivery, services
from app.streams.models import LogStream
from app.timestamps import utcnow

WORKER = "test-worker"


def make_stream(
    app,
    org_id,
    kind="webhook",
    settings=None,
    secret=None,
    start="beginning",
    name="SIEM",
    actor=None,
):
    """A stream made through the service; ``(id, secret shown once)``."""
    with app.app_context(), database.writes():
        org = db.session.get(Organization, org_id)
        stream, shown = services.create_stream(
            org, kind, name, settings or {}, secret=secret, start=start, actor=actor
        )
        return stream.id, shown


def drain(app, now=None, limit=200):
    """Run rounds until no stream has work (at ``now``); how many rounds ran."""
    now = now or utcnow()  # one moment: a backoff set by a round is never over within it
    with app.app_context():
        for rounds in range(limit):
            if delivery.run_next(WORKER, now) is None:
                return rounds
            db.session.remove()
    raise AssertionError(f"streams still had work after {limit} rounds")


def after_backoff(row):
    """A moment past the stream's backoff (instead of waiting for it)."""
    return max(row.next_attempt_at, utcnow()) + timedelta(seconds=1)


def stream_row(app, stream_id):
    """The stream's row as stored now (detached, all columns loaded)."""
    with app.app_context(), database.reads():
        row = db.session.get(LogStream, stream_id)
        if row is not None:
            db.session.expunge(row)
        return row
