"""The verbs of integrity: start and run a verification in the background, list runs."""

import logging
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app import database
from app.extensions import db
from app.integrity import verify
from app.integrity.models import RunState, VerificationRun
from app.jobs import runner
from app.jobs.lease import Columns, Lease, LostLease, claim_next
from app.service_errors import Conflict
from app.timestamps import utcnow
from app.trail import services as trail

logger = logging.getLogger(__name__)

RECENT_RUNS = 10
# A running run whose lease was not renewed for this long died with its runner; another
# runner takes it up again, at most MAX_ATTEMPTS times in all.
STALE_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 2
PROGRESS_EVERY_SECONDS = 0.5  # the page polls every second
QUEUE = "verifications"
JOBS = Columns(VerificationRun, RunState.PENDING, RunState.RUNNING, STALE_AFTER, MAX_ATTEMPTS)


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
    """Whether a run still marked running stopped renewing its lease (its runner died) and
    will not be taken up again (it had its attempts); until then it counts as running."""
    beat = run.heartbeat_at or run.updated_at
    return (
        run.state == RunState.RUNNING
        and run.attempts >= MAX_ATTEMPTS
        and (now or utcnow()) - beat > STALE_AFTER
    )


def active_run(org_id):
    """The organization's run in progress, if any."""
    run = db.session.scalar(
        select(VerificationRun)
        .where(
            VerificationRun.organization_id == org_id,
            VerificationRun.state.in_((RunState.PENDING, RunState.RUNNING)),
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
    """A committed run waits for the job runner: wake this process's (if it runs)."""
    runner.notify(current_app._get_current_object(), QUEUE)


class VerificationQueue:
    """Verification runs, for the job runner (every server process runs them)."""

    name = QUEUE
    poll_seconds = 5.0  # runs created by other processes are found at least this often

    def run_once(self, worker):
        """Run every waiting verification; how many ran."""
        ran = 0
        while not worker.stopping.is_set():
            run = claim_next(
                JOBS,
                worker.name,
                utcnow(),
                give_up=give_up,
                order_by=(VerificationRun.created_at, VerificationRun.id),
                on_claim=lambda run, _retried: setattr(run, "checked", 0),
            )
            if run is None:
                break
            execute_run(run, Lease.of(JOBS, run, every=PROGRESS_EVERY_SECONDS))
            ran += 1
        return ran


def execute_run(run, lease):
    """Verify the run's organization, reporting progress on the run as it goes; a run
    that fails on an error is recorded as ``error`` (not retried: it would fail again)."""
    checked = 0

    def progress(count):
        nonlocal checked
        checked += count
        lease.beat(checked=checked, updated_at=utcnow())

    try:
        result = verify.verify_chain(run.organization_id, progress=progress)
        with database.writes():
            finish_run(result, lease)
    except LostLease:
        logger.warning("verification run %s: taken over by another runner", run.id)
    except Exception:
        logger.exception("verification run %s failed", run.id)
        db.session.rollback()
        try:
            with database.writes():
                fail_run(lease)
        except LostLease:
            logger.warning("verification run %s: taken over by another runner", run.id)


def give_up(run, now):
    """A run interrupted ``MAX_ATTEMPTS`` times ends as ``error`` (and is recorded)."""
    end_in_error(
        run, f"The verification was interrupted {run.attempts} times (its server stopped).", now
    )


def end_in_error(run, message, now):
    """End a run as ``error``, recorded in the organization's log like a finished run."""
    run.state = RunState.ERROR
    run.message = message
    run.worker = None
    run.updated_at = run.finished_at = now
    record_run(run)


def finish_run(result, lease):
    """Save a run's result and record it in the organization's log, in one transaction."""
    run = lease.job()
    now = utcnow()
    run.worker = None
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


def fail_run(lease):
    """A run that could not finish: say so on the page, and record it in the
    organization's log (result ``error``) like a run that finished."""
    end_in_error(
        lease.job(),
        "The verification stopped on an unexpected error; it has been logged.",
        utcnow(),
    )


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


def wait_for_runs(app):
    """Finish every waiting run now (tests, shutdown): stop this process's runner, which
    ends the run it has, then run what is left in this thread."""
    runner.stop(app)
    runner.Runner(app, [VerificationQueue()]).run_once()
