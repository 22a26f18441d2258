"""Delivering streams: the ``streams`` queue of the job runner.

A round claims one stream that has something to send (events past its cursor, or a test
event asked for) under a lease, sends batch after batch in ``seq`` order, and moves the
cursor after each confirmed send, under the lease. A failure ends the round with a
backoff; a stream that keeps failing is marked failing, then paused (docs/streams.md).
A crash between a send and the cursor's move sends that batch again: at least once.
"""

import logging
import random
import time
from datetime import timedelta

from sqlalchemy import and_, case, or_, select

from app import database
from app.extensions import db
from app.jobs.lease import Columns, JobClock, Lease, LostLease, claim_next
from app.ledger.models import ChainHead
from app.streams import records, secrets
from app.streams.kinds import Destination, Outcome, kind_named
from app.streams.models import DELIVERING, LogStream, StreamState
from app.timestamps import utcnow
from app.trail import services as trail

logger = logging.getLogger(__name__)

NAME = "streams"
POLL_SECONDS = 1.0  # how soon new events are noticed when nobody woke the queue
LEASE = timedelta(minutes=2)  # a worker that stopped frees its stream after this long
MAX_CRASHES = 5  # rounds in a row that ended with their worker gone: then paused
FAILING_AFTER = 5  # failures in a row before a stream shows as failing
PAUSE_AFTER = timedelta(hours=24)  # of failures in a row, before it is paused
BACKOFF_FIRST = 1.0  # seconds; doubled after each failure, with full jitter
BACKOFF_MAX = 600.0
RETRY_AFTER_MAX = 3600.0  # a destination's Retry-After is honoured up to this
SLICE_SECONDS = 20.0  # a round hands its stream back after this long, for fairness
SYSTEM = trail.Actor("system", "log_stream_delivery", "Log stream delivery")
SYSTEM_CONTEXT = trail.Context("unknown", "auditlog-streams")

STREAMS = Columns(LogStream, "idle", "running", LEASE, max_attempts=MAX_CRASHES, state="job_state")


def has_work(now):
    """The claim's condition: a delivering stream past its backoff with events after its
    cursor, or any stream with a test event waiting."""
    head = (
        select(ChainHead.seq)
        .where(ChainHead.organization_id == LogStream.organization_id)
        .scalar_subquery()
    )
    return or_(
        and_(
            LogStream.state.in_(DELIVERING),
            or_(LogStream.next_attempt_at.is_(None), LogStream.next_attempt_at <= now),
            head > LogStream.cursor_seq,
        ),
        LogStream.test_pending,
    )


def give_up(stream, now):
    """A stream whose rounds ended with their worker gone ``MAX_CRASHES`` times in a row
    (each killed mid-batch, say by running out of memory): paused, for an admin to see."""
    reason = (
        f"Paused: delivery stopped {MAX_CRASHES} times in a row while sending the events "
        f"after seq {stream.cursor_seq} (the worker crashed or was killed). Resume to try again."
    )
    stream.job_state, stream.worker, stream.attempts = "idle", None, 0
    if stream.state in DELIVERING:
        stream.state, stream.state_reason = StreamState.PAUSED, reason
        stream.last_error, stream.last_error_at = reason, now
        record_pause(stream, reason)


def record_pause(stream, reason):
    """The service paused a stream: recorded in the organization's log."""
    trail.record(
        stream.organization_id,
        "dashboard.log_stream_paused",
        SYSTEM,
        [trail.Target("log_stream", stream.id, stream.name)],
        {"kind": stream.kind, "reason": trail.clipped(reason)},
        context=SYSTEM_CONTEXT,
    )


def run_next(worker, now=None, should_stop=lambda: False):
    """Claim a stream with work and run one round of it; the stream's id, or ``None``
    when no stream has work."""
    now = now or utcnow()
    stream = claim_next(
        STREAMS,
        worker,
        now,
        give_up,
        order_by=(LogStream.heartbeat_at.asc().nulls_first(), LogStream.id),
        where=(has_work(now),),
    )
    if stream is None:
        return None
    lease = Lease.of(STREAMS, stream)
    with database.reads():
        claimed = read_claimed(stream.id)
    try:
        Round(claimed, lease, now, should_stop).run()
    except LostLease:
        logger.warning("log stream %s: taken over by another worker", claimed.id)
    except Exception as error:  # a database error, say: hand the stream back with a backoff
        logger.exception("log stream %s: the round failed", claimed.id)
        db.session.rollback()
        message = f"Internal error: {type(error).__name__}: {error}"[:2000]
        lease.finish_unless_lost(
            job_state="idle",
            attempts=0,
            last_error=message,
            last_error_at=utcnow(),
            next_attempt_at=utcnow() + timedelta(seconds=backoff(claimed.failures + 1)),
        )
    return claimed.id


def read_claimed(stream_id):
    """The claimed stream as it is now, detached: the round reads its configuration and
    position from it, and writes only through the lease."""
    stream = db.session.get(LogStream, stream_id)
    db.session.expunge(stream)
    return stream


class Round:
    """One claimed stream's round: the test event if one waits, then batches until the
    stream is caught up, fails, changes, or its time slice is over."""

    def __init__(self, stream, lease, now, should_stop):
        self.stream = stream
        self.lease = lease
        self.now = now  # the claim's time (tests give one)
        self.clock = JobClock(now)  # the round's time: the claim's, plus what elapsed since
        self.should_stop = should_stop
        self.cursor = stream.cursor_seq
        self.failures = stream.failures
        self.failing_since = stream.failing_since

    def run(self):
        try:
            sender, broken = self.sender(), None
        except Exception as error:  # a secret under another key, a kind gone, ...
            sender, broken = None, refusal(error)
        try:
            if self.stream.test_pending:
                # The made-up test event: its result is the stream's; the cursor stays.
                test = records.test_batch(self.stream)
                self.test_done(broken or safely_send(sender, test))
            if not self.stream.due(self.now):
                self.lease.finish(job_state="idle", attempts=0)
            elif broken:
                self.failed(broken)
            else:
                self.deliver(sender)
        finally:
            if sender is not None:
                sender.close()

    def sender(self):
        self.kind = kind_named(self.stream.kind)
        secret = secrets.decrypt(self.stream.secret_encrypted)
        destination = Destination(
            self.stream.id, self.stream.organization_id, self.stream.parsed_settings, secret
        )
        return self.kind.sender(destination)

    def test_done(self, outcome):
        self.lease.renew(
            test_finished_at=self.clock(),
            test_done_for=self.stream.test_requested_at,
            test_ok=outcome.ok,
            test_result=outcome.message,
        )

    def deliver(self, sender):
        deadline = time.monotonic() + SLICE_SECONDS
        while not self.should_stop() and time.monotonic() < deadline:
            batch = records.next_batch(
                self.stream.id,
                self.stream.organization_id,
                self.cursor,
                self.kind.max_batch,
                through_seq=self.retrying(),
            )
            if batch is None:
                self.skip_purged()
                break
            outcome = safely_send(sender, batch)
            if not outcome.ok:
                self.failed(outcome, batch)
                return
            self.delivered(batch)
            if self.changed():
                break
        self.lease.finish(job_state="idle", attempts=0)

    def retrying(self):
        """The last seq of the failed batch being retried, if it is not delivered yet."""
        pending = self.stream.pending_last_seq
        return pending if pending is not None and pending > self.cursor else None

    def delivered(self, batch):
        """Move the cursor past a confirmed batch (events purged before it are counted)."""
        skipped = batch.first_seq - self.cursor - 1
        self.cursor = batch.last_seq
        self.failures, self.failing_since = 0, None
        self.lease.renew(
            cursor_seq=batch.last_seq,
            delivered_events=LogStream.delivered_events + len(batch.records),
            delivered_batches=LogStream.delivered_batches + 1,
            purged_unsent=LogStream.purged_unsent + skipped,
            last_success_at=self.clock(),
            failures=0,
            failing_since=None,
            next_attempt_at=None,
            pending_last_seq=None,
            # Recovered; an admin's pause made meanwhile stays.
            state=case(
                (LogStream.state == StreamState.FAILING, StreamState.ACTIVE),
                else_=LogStream.state,
            ),
        )

    def skip_purged(self):
        """No event is past the cursor, yet the head may be: retention purged them before
        they were sent. The cursor moves over what was purged (never past the purge
        checkpoint: an event stored since the batch was read is still to be sent), and
        they are counted."""
        with database.reads():
            _head_seq, purged_through = records.head_of(self.stream.organization_id)
        if purged_through > self.cursor:
            skipped, self.cursor = purged_through - self.cursor, purged_through
            self.lease.renew(
                cursor_seq=purged_through, purged_unsent=LogStream.purged_unsent + skipped
            )

    def changed(self):
        """Whether an admin changed, paused or deleted the stream since the claim (the
        round ends; the next one uses what is configured now)."""
        with database.reads():
            row = db.session.execute(
                select(LogStream.state, LogStream.changed_at).where(LogStream.id == self.stream.id)
            ).first()
        return (
            row is None or row.state not in DELIVERING or row.changed_at != self.stream.changed_at
        )

    def failed(self, outcome, batch=None):
        """End the round after a failure: back off, and mark the stream failing or paused;
        the failed batch is retried as it was."""
        now = self.clock()
        failures = self.failures + 1
        failing_since = self.failing_since or now
        state, reason = StreamState.ACTIVE, None
        if not outcome.retry:
            state, reason = (
                StreamState.PAUSED,
                f"Paused: the destination refused the events. {outcome.message}",
            )
        elif now - failing_since >= PAUSE_AFTER:
            state, reason = StreamState.PAUSED, "Paused after 24 hours of failures in a row."
        elif failures >= FAILING_AFTER:
            state = StreamState.FAILING
        with database.writes():
            stream = self.lease.job()
            stream.job_state, stream.attempts = "idle", 0
            stream.failures, stream.failing_since = failures, failing_since
            stream.last_error, stream.last_error_at = outcome.message, now
            stream.next_attempt_at = now + timedelta(seconds=backoff(failures, outcome.after))
            if batch is not None:
                stream.pending_last_seq = batch.last_seq
            if stream.state in DELIVERING:  # an admin's pause made meanwhile stays
                stream.state = state
                if state == StreamState.PAUSED:
                    stream.state_reason = reason
                    record_pause(stream, reason)


def safely_send(sender, batch):
    """The sender's outcome; an exception in it (a bug) is a failure to retry, logged."""
    try:
        return sender.send(batch)
    except Exception as error:
        logger.exception("log stream %s: the sender failed", batch.stream_id)
        return Outcome.again(f"Internal error while sending: {type(error).__name__}: {error}")


def refusal(error):
    """A stream that cannot even start sending, as a refusal (it needs an admin)."""
    return Outcome.refused(getattr(error, "message", None) or str(error))


def backoff(failures, retry_after=None):
    """Seconds to wait before the next try: exponential with full jitter, at least the
    destination's ``Retry-After``."""
    ceiling = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_MAX))
    return delay


class StreamQueue:
    """Log streams, for the runner: rounds until no stream has work."""

    name = NAME

    def __init__(self, poll_seconds=POLL_SECONDS, clock=utcnow):
        self.poll_seconds = poll_seconds
        self.clock = clock

    def run_once(self, runner):
        ran = 0
        while not runner.stopping.is_set():
            if run_next(runner.name, self.clock(), runner.stopping.is_set) is None:
                break
            ran += 1
        return ran


WORKER_SETTINGS = ("thread", "off")


def queue_for(app):
    """The streams queue when this process's runner delivers streams (``STREAM_WORKER``,
    ``thread`` by default), else ``None``; a typo is refused."""
    setting = app.config["STREAM_WORKER"]
    if setting not in WORKER_SETTINGS:
        raise ValueError(
            f"STREAM_WORKER must be one of {', '.join(WORKER_SETTINGS)}, not {setting!r}"
        )
    return StreamQueue(app.config["STREAM_POLL_SECONDS"]) if setting == "thread" else None
