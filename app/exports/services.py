"""The verbs of exports: create, run (claim a job, stream the file), download, expire.

A job is claimed in a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several workers never take the same one; SQLite's write lock serialises claims). The
worker then streams the matching events in pages through one read-only transaction into
a temporary file, renames it when complete and marks the export ready. While it writes,
it renews its lease (``heartbeat_at``); a job whose lease lapsed (its worker crashed or
was killed) is taken up again, at most ``MAX_ATTEMPTS`` times, then marked ``error``.
"""

import json
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

from flask import current_app, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import and_, event, func, literal, select, type_coerce
from sqlalchemy.orm import aliased, selectinload
from werkzeug.datastructures import MultiDict

from app import database
from app.events import pages
from app.events.filters import EventFilter
from app.exports.formats import FORMATS
from app.exports.models import Export, ExportDownload, ExportFormat, ExportState
from app.extensions import db
from app.jobs import runner
from app.jobs.lease import Columns, Lease, LostLease, claim_next, worker_name
from app.ledger.models import ChainHead, Event
from app.service_errors import ServiceError
from app.timestamps import isoformat, utcnow
from app.trail import services as trail

PAGE_ROWS = 2000  # rows fetched from the cursor at a time
LEASE = timedelta(minutes=2)  # a running job whose heartbeat is older was abandoned
MAX_ATTEMPTS = 3
URL_MAX_AGE_SECONDS = 600  # signed download URLs: 10 minutes
URL_SALT = "auditlog.export-download"
LIST_LIMIT = 100
SIGNED_URL_ACTOR = "signed_url"  # the actor of a download through a signed URL
# Where an export keeps its lease, for the job runner (app/jobs/lease.py).
JOBS = Columns(Export, ExportState.PENDING, ExportState.RUNNING, LEASE, MAX_ATTEMPTS)


class Interrupted(Exception):
    """The worker is stopping; the job goes back to pending for another one."""


class InvalidDownload(Exception):
    """A signed URL that is altered, expired, or for an export that is not ready."""


# Creating exports --------------------------------------------------------------------


def create_export(
    org,
    event_filter,
    format="csv",
    *,
    actor,
    created_by=None,
    api_key_id=None,
    portal_link_id=None,
    now=None,
):
    """Ask for an export of the organization's events matching ``event_filter``.

    A relative date range is frozen to absolute times now. The job runs in the
    background; a worker in this process is woken once the transaction commits. The
    request is recorded in the organization's log with ``actor``.
    """
    if format not in set(ExportFormat):
        raise ServiceError("Choose CSV or NDJSON.", field="format")
    now = now or utcnow()
    export = Export(
        organization_id=org.id,
        format=format,
        filters=json.dumps(frozen_filter(event_filter, now).to_args(), sort_keys=True),
        state=ExportState.PENDING,
        created_by=created_by,
        api_key_id=api_key_id,
        portal_link_id=portal_link_id,
        created_at=now,
        updated_at=now,
        attempts=0,
        rows_written=0,
    )
    db.session.add(export)
    db.session.flush()
    record(export, "dashboard.export_created", actor)
    event.listen(db.session(), "after_commit", wake_worker, once=True)
    return export


def record(export, action, actor):
    """Record something done with an export in its organization's log."""
    trail.record(
        export.organization_id,
        action,
        actor,
        targets=[trail.Target("audit_log_export", export.id, download_name(export))],
        metadata={
            "format": export.format,
            "rows": export.rows_written,
            "filters": urlencode(export_filter(export).to_args(), doseq=True)[:500],
        },
    )


def frozen_filter(event_filter, now):
    """The filter with its range made absolute: a relative range, and an open end (which
    becomes ``now``, rounded up to the second), so that a job run later or retried after a
    crash exports the same events, never ones stored after it was asked for."""
    frozen = event_filter.frozen(now)
    if frozen.end is not None:
        return frozen
    end = now.replace(microsecond=0) + (timedelta(seconds=1) if now.microsecond else timedelta())
    return frozen.narrowed_to(frozen.start, end)


def wake_worker(_session):
    """Tell this process's job runner (if it runs) that an export is waiting."""
    runner.notify(current_app, "exports")


def export_filter(export):
    """The export's filter, as it was frozen when the export was created."""
    return EventFilter.from_args(MultiDict(json.loads(export.filters)))


# Reading them ------------------------------------------------------------------------


def exports_of(org, limit=LIST_LIMIT):
    """The organization's latest exports, newest first, with who asked and the downloads."""
    return db.session.scalars(
        select(Export)
        .options(
            selectinload(Export.created_by),
            selectinload(Export.api_key),
            selectinload(Export.portal_link),
            selectinload(Export.downloads).selectinload(ExportDownload.user),
        )
        .where(Export.organization_id == org.id)
        .order_by(Export.created_at.desc(), Export.id.desc())
        .limit(limit)
    ).all()


def get_export(org_id, export_id):
    """One export of this organization, or ``None`` (never another organization's)."""
    return db.session.scalar(
        select(Export).where(Export.id == export_id, Export.organization_id == org_id)
    )


def visible_state(export, now=None):
    """The state as the API names it: ``running`` is ``pending``, and a ready export past
    its expiry is ``expired`` even before a worker has deleted its file."""
    if export.state == ExportState.RUNNING:
        return ExportState.PENDING
    if export.state == ExportState.READY and export.expires_at <= (now or utcnow()):
        return ExportState.EXPIRED
    return ExportState(export.state)


# Running jobs ------------------------------------------------------------------------


def run_next_export(worker=None, now=None, should_stop=None):
    """Claim the oldest waiting job and write its file; the export, or ``None`` if no job
    was waiting. ``should_stop()`` is asked between pages (a worker shutting down)."""
    worker = worker or worker_name()
    export = claim_next_export(worker, now or utcnow())
    if export is not None:
        run_export(export, worker, should_stop or (lambda: False))
    return export


def claim_next_export(worker, now):
    """Take the oldest pending job, or one whose worker stopped renewing its lease."""
    return claim_next(
        JOBS,
        worker,
        now,
        give_up=give_up,
        order_by=(Export.created_at, Export.id),
        on_claim=prepare_attempt,
    )


def prepare_attempt(export, retried):
    """A new attempt starts from nothing (a retried one also without its files)."""
    if retried:
        remove_partial_files(export)
    export.rows_written = 0


def give_up(export, now):
    """An export interrupted ``MAX_ATTEMPTS`` times fails for good."""
    remove_partial_files(export)
    fail(
        export,
        f"The export was interrupted {export.attempts} times (its worker stopped or crashed "
        "while writing). Create it again.",
        now,
    )


def fail(export, reason, now):
    """Mark the export failed, with the reason people will read."""
    export.state = ExportState.ERROR
    export.error = reason
    export.worker = None
    export.updated_at = now
    export.finished_at = now


def run_export(export, worker, should_stop):
    """Write the claimed export's file and mark it ready (or failed)."""
    directory = exports_dir()
    directory.mkdir(parents=True, exist_ok=True)
    kind = FORMATS[export.format]
    final = f"{export.id}-{export.attempts}.{kind.extension}"
    partial = directory / f".{export.id}-{export.attempts}.part"
    lease = Lease.of(JOBS, export)
    try:
        written = write_file(export, partial, kind, lease, should_stop)
        os.replace(partial, directory / final)
        sync_directory(directory)
        lease.finish(
            state=ExportState.READY,
            file_name=final,
            rows_written=written,
            rows_total=written,
            size_bytes=(directory / final).stat().st_size,
            expires_at=utcnow() + timedelta(days=current_app.config["EXPORT_RETENTION_DAYS"]),
        )
    except LostLease:
        partial.unlink(missing_ok=True)
        (directory / final).unlink(missing_ok=True)
    except Interrupted:
        partial.unlink(missing_ok=True)
        # A clean stop is no failed attempt: the next worker's claim counts it again.
        lease.finish_unless_lost(
            state=ExportState.PENDING,
            worker=None,
            rows_written=0,
            finished_at=None,
            attempts=export.attempts - 1,
        )
    except Exception as error:
        current_app.logger.exception("export %s failed", export.id)
        partial.unlink(missing_ok=True)
        (directory / final).unlink(missing_ok=True)
        lease.finish_unless_lost(
            state=ExportState.ERROR,
            error=f"Writing the file failed ({type(error).__name__}). Create the export again; "
            "if it fails again, the server's log says more.",
        )
    with database.reads():
        db.session.refresh(export)  # the lease wrote through its own connection


def write_file(export, path, kind, lease, should_stop):
    """Stream the matching events into ``path``; the number of rows written."""
    event_filter = export_filter(export)
    if event_filter.errors:
        raise ValueError(f"stored filter does not parse: {event_filter.errors}")
    with database.reads():  # the choice of conditions reads through the session
        conditions = pages.matching_conditions(export.organization_id, event_filter)
    written = 0
    with database.read_only_connection() as connection:
        total = connection.scalar(select(func.count(Event.pk)).where(*conditions))
        lease.renew(rows_total=total, rows_written=0)
        streaming = connection.execution_options(stream_results=True, yield_per=PAGE_ROWS)
        query = export_query(conditions, connection.dialect.name, chained=kind.chained)
        # Closing the result closes PostgreSQL's server-side cursor, also on a failure.
        with (
            streaming.execute(query) as result,
            open(path, "w", encoding="utf-8", newline="") as handle,
        ):
            writer = kind(handle)
            for rows in result.partitions():
                if should_stop():
                    raise Interrupted()
                writer.write(rows)
                written += len(rows)
                lease.beat(rows_written=written)
            handle.flush()
            os.fsync(handle.fileno())
    return written


def export_query(conditions, dialect, chained=False, order_by=None):
    """The events-table columns of the matching events, newest first (as the viewer lists
    them) unless ``order_by`` says otherwise, the two times already formatted as the API
    prints them.

    ``chained`` (NDJSON) adds what a line needs to be checked on its own: the stored
    ``received_at`` as is (the hash covers it to the microsecond) and the previous event's
    hash, which is the purge checkpoint's, or the genesis hash, when there is no previous
    event left.
    """
    columns = [
        column
        for column in Event.__table__.c
        if column.name not in ("occurred_at", "received_at", "pk", "search_text")
    ]
    query = select(
        *columns,
        api_time(Event.occurred_at, dialect).label("occurred_at"),
        api_time(Event.received_at, dialect).label("received_at"),
    )
    if chained:
        previous = aliased(Event)
        checkpoint = (
            select(ChainHead.purged_through_hash)
            .where(
                ChainHead.organization_id == Event.organization_id,
                ChainHead.purged_through_seq == Event.seq - 1,
            )
            .scalar_subquery()
        )
        query = query.add_columns(
            type_coerce(Event.received_at, db.String).label("received_at_stored"),
            func.coalesce(previous.hash, checkpoint).label("prev_hash"),
        ).outerjoin(
            previous,
            and_(previous.organization_id == Event.organization_id, previous.seq == Event.seq - 1),
        )
    if order_by is None:
        order_by = (Event.occurred_at.desc(), Event.id.desc())
    return query.where(*conditions).order_by(*order_by)


def api_time(column, dialect):
    """A stored time as text, UTC with milliseconds and ``Z``, formatted by the database.

    SQLite holds ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTCDateTime, always with microseconds):
    cutting the text truncates to milliseconds as ``app.timestamps.isoformat`` does.
    """
    if dialect == "sqlite":
        text = type_coerce(column, db.String)
        return func.substr(text, 1, 10) + literal("T") + func.substr(text, 12, 12) + literal("Z")
    return func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')


def remove_partial_files(export):
    """Delete what abandoned attempts left behind: partial files, and finished ones whose
    worker stopped between the rename and marking the export ready (no export points at
    them; they would otherwise outlive every retention setting)."""
    directory = exports_dir()
    leftovers = [*directory.glob(f".{export.id}-*.part"), *directory.glob(f"{export.id}-*.*")]
    for path in leftovers:
        if path.name != export.file_name:
            path.unlink(missing_ok=True)


def exports_dir():
    """Where export files live: EXPORTS_DIR, or ``instance/exports``."""
    configured = current_app.config.get("EXPORTS_DIR")
    return Path(configured) if configured else Path(current_app.instance_path) / "exports"


def sync_directory(directory):
    """Make a rename in ``directory`` durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# Expiry ------------------------------------------------------------------------------


def expire_exports(now=None):
    """Delete the files of exports past their expiry and mark them ``expired``; returns how
    many (in the caller's ``database.writes()``)."""
    now = now or utcnow()
    due = db.session.scalars(
        select(Export).where(Export.state == ExportState.READY, Export.expires_at <= now)
    ).all()
    directory = exports_dir()
    for export in due:
        if export.file_name:
            (directory / export.file_name).unlink(missing_ok=True)
        export.state = ExportState.EXPIRED
        export.file_name = None
        export.updated_at = now
    db.session.flush()
    return len(due)


# Downloads ---------------------------------------------------------------------------


def signer():
    """Signs download URLs with the app's secret key and a salt of their own."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=URL_SALT)


def signed_url(export):
    """An absolute URL that downloads the export without an API key for 10 minutes."""
    # A nonce, so that every URL differs, even two issued within one second.
    token = signer().dumps([export.id, secrets.token_urlsafe(6)])
    return url_for("api.download_export", export_id=export.id, token=token, _external=True)


def verify_download(export_id, token, now=None):
    """The ready export a signed URL names, and when the URL was issued.

    ``InvalidDownload`` for an altered or expired signature, another export's URL, or an
    export that is not (or no longer) ready.
    """
    try:
        (signed_id, _nonce), issued_at = signer().loads(token or "", return_timestamp=True)
    except (BadSignature, TypeError, ValueError) as error:
        raise InvalidDownload("This download link is not valid.") from error
    now = now or utcnow()
    if signed_id != export_id:
        raise InvalidDownload("This download link is not valid.")
    if (now - issued_at).total_seconds() > URL_MAX_AGE_SECONDS or issued_at > now + LEASE:
        raise InvalidDownload(
            "This download link has expired (links last 10 minutes): "
            "get the export again for a fresh one."
        )
    export = db.session.get(Export, export_id)
    if export is None or visible_state(export, now) != ExportState.READY:
        raise InvalidDownload("This export is not ready for download.")
    return export, issued_at


def file_path(export):
    """The ready export's file; ``ServiceError`` if it has none (not ready, or expired)."""
    if visible_state(export) != ExportState.READY or not export.file_name:
        raise ServiceError("This export has no file to download: it is not ready or expired.")
    path = exports_dir() / export.file_name
    if not path.is_file():
        raise ServiceError("This export's file is gone: create the export again.")
    return path


def download_export(
    export, user=None, portal_link_id=None, actor=None, url_issued_at=None, ip_address=None
):
    """Record a download of a ready export; the path of its file to send.

    ``user`` for a member's download, ``portal_link_id`` for one in a portal session
    (with ``actor``, the user by default), ``url_issued_at`` for a signed URL's (its
    holder is not known: the actor is the URL). Each is recorded in the organization's
    log. Raises ``ServiceError`` if the export has no file (not ready, or expired).
    """
    path = file_path(export)
    via = "session" if user is not None else "portal" if portal_link_id else "signed_url"
    db.session.add(
        ExportDownload(
            export_id=export.id,
            user_id=user.id if user is not None else None,
            via=via,
            portal_link_id=portal_link_id,
            url_issued_at=url_issued_at,
            ip_address=(ip_address or "")[:64] or None,
            downloaded_at=utcnow(),
        )
    )
    db.session.flush()
    if via == "signed_url":
        actor = trail.Actor(SIGNED_URL_ACTOR, export.id, f"URL issued {isoformat(url_issued_at)}")
    record(export, "dashboard.export_downloaded", actor or trail.user_actor(user))
    return path


def download_name(export):
    """The file name a browser saves the export under."""
    return f"{export.id}.{FORMATS[export.format].extension}"


def mimetype(export):
    """The file's media type."""
    return FORMATS[export.format].mimetype
