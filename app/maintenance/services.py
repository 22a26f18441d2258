"""The daily job: what it runs, and making sure only one process runs it at a time."""

import logging
from datetime import timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite

from app import database
from app.exports import services as exports
from app.extensions import db
from app.jobs.lease import Columns, JobClock, Lease, LostLease
from app.maintenance.models import MaintenanceJob
from app.retention import services as retention

logger = logging.getLogger(__name__)

DAILY_JOB = "daily"
EVERY = timedelta(days=1)
# A process that claimed the job and died frees it after this long; a live one renews it
# as it works.
LEASE = timedelta(hours=1)
JOBS = MaintenanceJob.__table__


# The daily job's lease, as every job's (app/jobs/lease.py); it is claimed by schedule
# (once a day), not from a queue, so attempts are not counted against a limit.
DAILY = Columns(MaintenanceJob, "idle", "running", LEASE, max_attempts=0, key="name")


def purge_expired(now, lease):
    """Retention: delete events past each organization's period (and stale idempotency keys)."""
    reports = retention.purge(now, progress=lambda _deleted: lease.renew())
    return ", ".join(f"{r.org_id}: {r.events} purged" for r in reports if r.events) or "nothing"


def expire_exports(now, _lease):
    """Exports: delete the files of exports past their expiry (state ``expired``)."""
    with database.writes():
        expired = exports.expire_exports(now)
    return f"{expired} expired"


# The daily job's tasks, in order; each takes the moment of the run and the job's lease
# (to renew as it goes), and returns a summary.
DAILY_TASKS = [purge_expired, expire_exports]


def run_daily_tasks(now, lease):
    """Run every daily task; a failing task is logged and does not stop the others."""
    results = []
    for task in DAILY_TASKS:
        try:
            results.append(f"{task.__name__}: {task(now, lease)}")
        except LostLease:
            raise  # another process has the job now: leave the rest to it
        except Exception:
            db.session.rollback()
            logger.exception("daily task %s failed", task.__name__)
            results.append(f"{task.__name__}: failed")
    return "; ".join(results)


def claim(owner, now, name=DAILY_JOB):
    """Take the job if it is due (not finished in the last day) and no live process holds
    it (its lease ran out): one conditional UPDATE, so two processes never both get it."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    with database.writes():
        db.session.execute(
            insert(JOBS).values(name=name).on_conflict_do_nothing(index_elements=["name"])
        )
        claimed = db.session.execute(
            update(JOBS)
            .where(
                JOBS.c.name == name,
                DAILY.claimable(now),
                or_(JOBS.c.last_finished_at.is_(None), JOBS.c.last_finished_at <= now - EVERY),
            )
            .values(
                state=DAILY.running,
                worker=owner[:200],
                heartbeat_at=now,
                attempts=JOBS.c.attempts + 1,
                last_started_at=now,
            )
        ).rowcount
    return claimed == 1


def run_if_due(owner, now):
    """Run the daily tasks if they are due and this process gets the job; returns their
    summary, or ``None`` when there was nothing to do."""
    if not claim(owner, now):
        return None
    clock = JobClock(now)
    lease = Lease(DAILY, DAILY_JOB, owner[:200], attempt=None, every=0, clock=clock)
    try:
        result = run_daily_tasks(now, lease)
    except BaseException:
        db.session.rollback()
        lease.finish_unless_lost(state=DAILY.pending, worker=None)
        raise
    lease.finish_unless_lost(
        state=DAILY.pending, worker=None, last_finished_at=now, last_result=result[:500]
    )
    return result
