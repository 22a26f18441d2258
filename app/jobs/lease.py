"""Claiming a job under a lease, and the lease itself: heartbeat, progress, retries.

A job is a row of its feature's own table (an export, a verification run, the daily
job); ``Columns`` says which of its columns hold the lease. The claim is one conditional
write in its own transaction, so two workers never hold the same job; every later write
(heartbeat, progress, the outcome) goes through ``Lease`` and succeeds only while the job
is still this worker's, so a worker that lost its lease (it stalled, and another took
over) can never overwrite the other's work.
"""

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from app import database
from app.extensions import db
from app.timestamps import utcnow

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 1.0  # how often a running job writes its progress and renews its lease


class LostLease(Exception):
    """Another worker took the job over (this one stalled past its lease)."""


def worker_name():
    """A name unique to this worker: host, process, and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Columns:
    """Where a job table keeps its lease: the model, its states, and how long a lease
    lasts without a heartbeat before another worker may take the job over."""

    model: type
    pending: str
    running: str
    lease: object  # a timedelta
    max_attempts: int
    key: str = "id"  # the model's key attribute
    state: str = "state"  # the attribute holding ``pending`` or ``running``

    @property
    def state_column(self):
        """The model's column holding the job's state."""
        return getattr(self.model, self.state)

    def claimable(self, now):
        """Pending, or running under a lease that ran out (its worker stopped)."""
        state = self.state_column
        return or_(
            state == self.pending,
            and_(state == self.running, self.model.heartbeat_at < now - self.lease),
        )


def claim_next(columns, worker, now, give_up, order_by, on_claim=None, where=()):
    """Take the first claimable job in ``order_by`` (one transaction); the job, or ``None``.
    ``where`` adds the queue's own conditions (e.g. that a stream has something to send).

    A job whose lease ran out is retried (``attempts`` counts every claim) until it has
    been tried ``max_attempts`` times; then ``give_up(job, now)`` marks it failed, in the
    same transaction, and the next job is taken. ``on_claim(job, retried)`` prepares a
    job being taken (e.g. resets its progress), in the claim's transaction.
    """
    model = columns.model
    # Idle queues are polled every few seconds: ask in a read first, so that finding
    # nothing never takes SQLite's write lock from the event writer.
    with database.reads():
        waiting = db.session.scalar(
            select(getattr(model, columns.key)).where(columns.claimable(now), *where).limit(1)
        )
    if waiting is None:
        return None
    while True:
        with database.writes():
            job = db.session.scalar(
                select(model)
                .where(columns.claimable(now), *where)
                .order_by(*order_by)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if job is None:
                return None
            retried = getattr(job, columns.state) == columns.running
            if retried and job.attempts >= columns.max_attempts:
                give_up(job, now)
                continue
            if on_claim is not None:
                on_claim(job, retried)
            setattr(job, columns.state, columns.running)
            job.worker = worker
            job.heartbeat_at = now
            job.attempts += 1
            if hasattr(job, "updated_at"):
                job.updated_at = now
            return job


class JobClock:
    """The job's clock: the claim's ``now``, plus the time elapsed since (so tasks given a
    ``now`` in the past, as tests do, keep a consistent time while they run)."""

    def __init__(self, now, seconds=time.monotonic):
        self.seconds = seconds
        self.claimed_at, self.claimed = now, seconds()

    def __call__(self):
        return self.claimed_at + timedelta(seconds=self.seconds() - self.claimed)


class Lease:
    """A worker's hold on a running job: each write succeeds only while the job is still
    this worker's (same worker name and attempt) and renews the lease."""

    def __init__(self, columns, job_id, worker, attempt, every=HEARTBEAT_SECONDS, clock=utcnow):
        self.columns = columns
        self.job_id = job_id
        self.worker = worker
        self.attempt = attempt  # None: any attempt (a job claimed without counting them)
        self.every = every
        self.clock = clock
        self.last = time.monotonic()

    @classmethod
    def of(cls, columns, job, **options):
        """The lease of a job just claimed."""
        return cls(columns, getattr(job, columns.key), job.worker, job.attempts, **options)

    def held(self):
        """The conditions under which the job is still this worker's."""
        model = self.columns.model
        held = [
            getattr(model, self.columns.key) == self.job_id,
            model.worker == self.worker,
            self.columns.state_column == self.columns.running,
        ]
        if self.attempt is not None:
            held.append(model.attempts == self.attempt)
        return held

    def job(self):
        """The job, locked in the session's ``writes()``, to write its outcome with the
        rest of that transaction; ``LostLease`` if it is no longer this worker's."""
        job = db.session.scalar(select(self.columns.model).where(*self.held()).with_for_update())
        if job is None:
            raise LostLease(self.job_id)
        return job

    def renew(self, **values):
        """Write ``values`` (progress) and renew the lease, in a transaction of its own;
        ``LostLease`` if another worker took the job over."""
        model, now = self.columns.model, self.clock()
        with database.write_connection() as connection:
            changed = connection.execute(
                update(model).where(*self.held()).values(heartbeat_at=now, **values)
            ).rowcount
        self.last = time.monotonic()
        if changed != 1:
            raise LostLease(self.job_id)
        return now

    def beat(self, **values):
        """The heartbeat: ``renew`` at most every ``every`` seconds (progress on the way)."""
        if time.monotonic() - self.last >= self.every:
            self.renew(**values)

    def finish(self, **values):
        """Leave the running state (done, failed, or back to pending to be retried)."""
        now, model = self.clock(), self.columns.model
        for stamp in ("finished_at", "updated_at"):
            if hasattr(model, stamp):
                values.setdefault(stamp, now)
        self.renew(**values)

    def finish_unless_lost(self, **values):
        """Finish, unless another worker has taken the job over (then it is theirs)."""
        try:
            self.finish(**values)
        except LostLease:
            logger.warning("job %s: taken over by another worker", self.job_id)
