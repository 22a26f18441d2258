"""The daily job: what it runs, and making sure only one process runs it at a time."""

import logging
from datetime import timedelta
from time import monotonic

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite

from app import database
from app.exports import services as exports
from app.extensions import db
from app.maintenance.models import MaintenanceJob
from app.retention import services as retention

logger = logging.getLogger(__name__)

DAILY_JOB = "daily"
EVERY = timedelta(days=1)
# A process that claimed the job and died frees it after this long; a live one renews it
# as it works.
LEASE = timedelta(hours=1)
JOBS = MaintenanceJob.__table__


class Lease:
    """A process's hold on the job, from the moment it was claimed; ``renew`` extends it
    (tasks call it as they make progress, so a long task keeps other processes out)."""

    def __init__(self, owner, now, name=DAILY_JOB):
        self.owner, self.name = owner, name
        self.claimed_at, self.claimed = now, monotonic()

    def now(self):
        """The current time on the job's clock (the claim's ``now``, plus time elapsed)."""
        return self.claimed_at + timedelta(seconds=monotonic() - self.claimed)

    def renew(self, *_progress):
        """Hold the job for another LEASE from now (its own transaction)."""
        with database.writes():
            renewed = db.session.execute(
                update(JOBS)
                .where(JOBS.c.name == self.name, JOBS.c.locked_by == self.owner[:100])
                .values(locked_until=self.now() + LEASE)
            ).rowcount
        if not renewed:
            logger.warning("the %s job's lease was lost: another process may run it", self.name)


def purge_expired(now, lease):
    """Retention: delete events past each organization's period (and stale idempotency keys)."""
    reports = retention.purge(now, progress=lease.renew)
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
        except Exception:
            db.session.rollback()
            logger.exception("daily task %s failed", task.__name__)
            results.append(f"{task.__name__}: failed")
    return "; ".join(results)


def claim(owner, now, name=DAILY_JOB):
    """Take the job if it is due (not finished in the last day) and no live process holds
    it: one conditional UPDATE, so two processes can never both get it."""
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    with database.writes():
        db.session.execute(
            insert(JOBS).values(name=name).on_conflict_do_nothing(index_elements=["name"])
        )
        claimed = db.session.execute(
            update(JOBS)
            .where(
                JOBS.c.name == name,
                or_(JOBS.c.locked_until.is_(None), JOBS.c.locked_until < now),
                or_(JOBS.c.last_finished_at.is_(None), JOBS.c.last_finished_at <= now - EVERY),
            )
            .values(locked_by=owner[:100], locked_until=now + LEASE, last_started_at=now)
        ).rowcount
    return claimed == 1


def release(owner, now, result=None, name=DAILY_JOB):
    """Give the job back; with a ``result``, it counts as done for the day."""
    values = {"locked_by": None, "locked_until": None}
    if result is not None:
        values.update(last_finished_at=now, last_result=result[:500])
    with database.writes():
        db.session.execute(
            update(JOBS)
            .where(JOBS.c.name == name, JOBS.c.locked_by == owner[:100])
            .values(**values)
        )


def run_if_due(owner, now):
    """Run the daily tasks if they are due and this process gets the job; returns their
    summary, or ``None`` when there was nothing to do."""
    if not claim(owner, now):
        return None
    try:
        result = run_daily_tasks(now, Lease(owner, now))
    except BaseException:
        db.session.rollback()
        release(owner, now)
        raise
    release(owner, now, result)
    return result
