"""The verbs of integrity: start and run a verification in the background, list runs."""

import logging
import threading
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app import database
from app.extensions import db
from app.integrity import verify
from app.integrity.models import RunState, VerificationRun
from app.service_errors import Conflict
from app.timestamps import utcnow
from app.trail import services as trail

logger = logging.getLogger(__name__)

RECENT_RUNS = 10
# A run whose progress has not moved for this long died with its server process.
STALE_AFTER = timedelta(minutes=2)
PROGRESS_EVERY_SECONDS = 0.5


def chain_status(org_id):
    """The organization's chain head and purge checkpoint."""
    return verify.read_head(org_id)


def recent_runs(org_id, limit=RECENT_RUNS):
    """The organization's latest verification runs, newest first."""
    return db.session.scalars(
        select(VerificationRun)
        .where(VerificationRun.organization_id == org_id)
        .order_by(VerificationRun.created_at.desc(), VerificationRun.id.desc())
        .limit(limit)
    ).all()


def get_run(org_id, run_id):
    """One run of this organization, or ``None`` (never another organization's)."""
    return db.session.scalar(
        select(VerificationRun).where(
            VerificationRun.organization_id == org_id, VerificationRun.id == run_id
        )
    )


def is_stale(run, now=None):
    """Whether a run still marked running stopped reporting progress (its process died)."""
    return run.state == RunState.RUNNING and (now or utcnow()) - run.updated_at > STALE_AFTER


def active_run(org_id):
    """The organization's run in progress, if any."""
    run = db.session.scalar(
        select(VerificationRun)
        .where(
            VerificationRun.organization_id == org_id,
            VerificationRun.state == RunState.RUNNING,
        )
        .order_by(VerificationRun.created_at.desc())
        .limit(1)
    )
    return None if run is None or is_stale(run) else run


def create_run(org, user):
    """Record a verification run requested by ``user`` (refused while one is running)."""
    running = active_run(org.id)
    if running is not None:
        raise Conflict("A verification of this log is already running.")
    context = trail.request_context()
    head = verify.read_head(org.id)
    run = VerificationRun(
        organization_id=org.id,
        requested_by_id=user.id,
        requested_by_email=user.email,
        request_location=context.location,
        request_user_agent=context.user_agent,
        total=head.count,
        checked=0,
    )
    db.session.add(run)
    db.session.flush()
    return run


def start_run(run):
    """Run a committed verification run in a background thread of this process."""
    app = current_app._get_current_object()
    thread = threading.Thread(
        target=run_in_background, args=(app, run.id), name=f"verify-{run.id}", daemon=True
    )
    threads = app.extensions.setdefault("auditlog.verification_threads", {})
    threads[run.id] = thread
    thread.start()
    return thread


def run_in_background(app, run_id):
    """The background thread: verify, then record the outcome and its audit event."""
    with app.app_context():
        try:
            execute_run(run_id)
        except Exception:
            logger.exception("verification run %s failed", run_id)
            db.session.rollback()
            with database.writes():
                fail_run(run_id)
        finally:
            db.session.remove()


def execute_run(run_id):
    """Verify the run's organization, reporting progress on the run as it goes."""
    with database.reads():
        org_id = db.session.get(VerificationRun, run_id).organization_id
    last_report = time.monotonic()
    checked = 0

    def progress(count):
        nonlocal last_report, checked
        checked += count
        if time.monotonic() - last_report >= PROGRESS_EVERY_SECONDS:
            with database.writes():
                report_progress(run_id, checked)
            last_report = time.monotonic()

    result = verify.verify_chain(org_id, progress=progress)
    with database.writes():
        finish_run(run_id, result)


def report_progress(run_id, checked):
    """Save how far a run has got, for the page that polls it."""
    run = db.session.get(VerificationRun, run_id)
    run.checked = checked
    run.updated_at = utcnow()
    db.session.flush()


def finish_run(run_id, result):
    """Save a run's result and record it in the organization's log, in one transaction."""
    run = db.session.get(VerificationRun, run_id)
    now = utcnow()
    run.state = RunState.PASSED if result.ok else RunState.FAILED
    run.checked = result.checked
    run.total = max(run.total, result.checked)
    run.head_seq = result.head.seq
    run.head_hash = result.head.hash
    run.updated_at = run.finished_at = now
    if result.finding is not None:
        run.bad_seq = result.finding.seq
        run.problem = result.finding.problem
        run.message = result.finding.message
    record_run(run)


def fail_run(run_id):
    """A run that could not finish: say so on the page, and record it in the
    organization's log (result ``error``) like a run that finished."""
    run = db.session.get(VerificationRun, run_id)
    if run is None:
        return
    run.state = RunState.ERROR
    run.message = "The verification stopped on an unexpected error; it has been logged."
    run.updated_at = run.finished_at = utcnow()
    record_run(run)


def record_run(run):
    """The ``dashboard.integrity_verified`` event of a run that ended (passed, failed, or
    stopped on an error), by the user who started it."""
    trail.record(
        run.organization_id,
        "dashboard.integrity_verified",
        trail.Actor(
            trail.ACTOR_TYPE, run.requested_by_id or "unknown", run.requested_by_email or "unknown"
        ),
        targets=[trail.Target("verification_run", run.id)],
        metadata={
            "result": run.state,
            "checked": run.checked,
            "head_seq": run.head_seq,
            "first_bad_seq": run.bad_seq,
            "problem": run.problem,
        },
        context=trail.Context(
            run.request_location or trail.UNKNOWN_LOCATION, run.request_user_agent
        ),
    )


def wait_for_runs(app, timeout=None):
    """Join this app's verification threads (server shutdown, tests)."""
    for thread in list(app.extensions.get("auditlog.verification_threads", {}).values()):
        thread.join(timeout)
