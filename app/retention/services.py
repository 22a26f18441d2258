"""Retention: the periods an organization may choose, setting one, and the purge that
deletes what is past it while keeping the chain verifiable."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import takewhile

from sqlalchemy import delete, select

from app import database
from app.extensions import db
from app.ingest.models import IDEMPOTENCY_WINDOW, IdempotencyRecord
from app.integrity import verify
from app.ledger import chain, search
from app.ledger.models import ChainHead, Event, EventHour, EventTarget
from app.orgs.models import Organization
from app.service_errors import ServiceError
from app.timestamps import utcnow
from app.trail import services as trail

# 1 to 11 months (30-day months), then 1 to 10 years (365-day years), as the contract lists.
PERIODS = {f"{n}_MONTH{'S' if n > 1 else ''}": 30 * n for n in range(1, 12)} | {
    f"{n}_YEAR{'S' if n > 1 else ''}": 365 * n for n in range(1, 11)
}
ALLOWED_DAYS = sorted(PERIODS.values())


def set_retention(org, days, *, actor):
    """Keep the organization's events for ``days`` days (one of the allowed periods); a
    change is recorded in its log with ``actor``."""
    if days not in ALLOWED_DAYS:
        raise ServiceError(
            "Choose one of the periods: 30, 60, ... 330 days, or 365, 730, ... 3650 days.",
            field="retention_period_in_days",
        )
    previous, org.retention_period_in_days = org.retention_period_in_days, days
    db.session.flush()
    if days != previous:
        target = trail.organization_target(org)
        metadata = {"retention_period_in_days": days, "previous_retention_period_in_days": previous}
        trail.record(org.id, "dashboard.retention_changed", actor, [target], metadata)


BATCH_SIZE = 5000
# A plan counts this many expired events at most (then says "more than").
PLAN_LIMIT = 100_000


@dataclass
class OrganizationPurge:
    """What a purge did (or, in a dry run, would do) in one organization."""

    org_id: str
    name: str
    cutoff: datetime
    events: int = 0
    through_seq: int = 0  # the purge checkpoint afterwards
    finding: verify.Finding | None = None  # a chain problem that stopped it
    more: bool = False  # a plan: more than ``events`` (PLAN_LIMIT) would be deleted

    @property
    def events_text(self):
        """How many events, in words: "1 event", "12 events", "more than 100,000 events"."""
        if self.more:
            return f"more than {self.events:,} events"
        return f"{self.events:,} event{'' if self.events == 1 else 's'}"


def cutoff_for(org, as_of):
    """Events received before this moment are past the organization's retention period."""
    return as_of - timedelta(days=org.retention_period_in_days)


def organizations_with_retention(org_id=None):
    """The organizations whose retention period is set (one, when ``org_id`` is given)."""
    query = select(Organization).where(Organization.retention_period_in_days.is_not(None))
    if org_id is not None:
        query = query.where(Organization.id == org_id)
    return db.session.scalars(query.order_by(Organization.id)).all()


def purge_plan(as_of, org_id=None, limit=PLAN_LIMIT, counted=True):
    """For each organization with a retention period: how many events a purge as of
    ``as_of`` would delete, counted as the purge deletes them (in seq order from the
    checkpoint, up to the first event not yet past the period), up to ``limit``.
    Changes nothing, and never commits: views call it from GET requests. ``counted=False``
    leaves the counts at 0 (a purge counts what it deletes itself)."""
    plan = []
    for org in organizations_with_retention(org_id):
        cutoff = cutoff_for(org, as_of)
        head = verify.read_head(org.id)
        report = OrganizationPurge(org.id, org.name, cutoff, through_seq=head.purged_through_seq)
        if counted:
            report.events = expired_run(org.id, head.purged_through_seq, cutoff, limit + 1)
        if report.events > limit:
            report.events, report.more = limit, True
        plan.append(report)
    return plan


def expired_run(org_id, after_seq, cutoff, limit):
    """How many of the organization's events after ``after_seq``, in seq order, were
    received before ``cutoff`` until the first that was not (at most ``limit``). Reads
    the seq index in order and stops there, so a log with little to purge costs little."""
    received = db.session.scalars(
        select(Event.received_at)
        .where(Event.organization_id == org_id, Event.seq > after_seq)
        .order_by(Event.seq)
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    try:
        return sum(1 for _ in takewhile(lambda moment: moment < cutoff, received))
    finally:
        received.close()


def read_plan(as_of, org_id=None, counted=True):
    """``purge_plan`` in a read-only transaction of its own (commands and the daily job:
    SQLite's write lock stays free while it reads)."""
    with database.reads():
        return purge_plan(as_of, org_id, counted=counted)


def purge(as_of, org_id=None, batch_size=BATCH_SIZE, progress=None, plan=None):
    """Delete, organization by organization, the events received before each one's cutoff,
    oldest first, in batches that each commit on their own (safe to interrupt and rerun).

    Only an unbroken run from the start of the chain is deleted, and only after its chain
    verified: the batch's last event becomes the purge checkpoint, in the same transaction.
    A chain problem stops that organization's purge there, keeping the evidence.
    ``progress(n)`` is called after each batch with the events it deleted. ``plan`` is
    ``read_plan``'s for the same arguments, when the caller already has it.
    """
    plan = plan if plan is not None else read_plan(as_of, org_id, counted=False)
    for report in plan:
        report.events, report.more = 0, False
        while True:
            with database.writes():
                deleted = purge_batch(report, batch_size)
            if progress is not None and deleted:
                progress(deleted)
            if deleted < batch_size or report.finding is not None:
                break
    purge_idempotency_records(as_of)
    return plan


def purge_batch(report, batch_size):
    """Delete the next batch of one organization's expired events; returns how many."""
    connection = db.session.connection()
    with chain.driver_cursor(connection) as (cursor, dialect):
        chain.lock_head(cursor, dialect, report.org_id)
    head = db.session.get(ChainHead, report.org_id, populate_existing=True)
    page = verify.read_page(report.org_id, head.purged_through_seq, head.seq, batch_size)
    expired = list(takewhile(lambda stored: stored.row.received_at < report.cutoff, page))
    walk = verify.Walk(
        report.org_id, head.purged_through_seq, head.purged_through_hash, follow_purges=False
    )
    walk.check(expired)
    if walk.finding is not None:
        report.finding = walk.finding
        expired = expired[: walk.checked]
    report.through_seq = head.purged_through_seq
    if not expired:
        return 0
    ids = [stored.row.id for stored in expired]
    db.session.execute(delete(EventTarget).where(EventTarget.event_id.in_(ids)))
    db.session.execute(
        delete(Event).where(
            Event.organization_id == report.org_id,
            Event.seq > head.purged_through_seq,
            Event.seq <= walk.seq,
        )
    )
    db.session.execute(  # hours whose events are all gone now
        delete(EventHour).where(
            EventHour.organization_id == report.org_id, EventHour.last_seq <= walk.seq
        )
    )
    purged_terms = set()
    for stored in expired:
        names = [target.name for target in stored.targets]
        purged_terms |= search.event_terms(stored.row.action, stored.row.actor_name, names)
    search.forget_unused_terms(connection, report.org_id, purged_terms)
    head.purged_through_seq, head.purged_through_hash = walk.seq, walk.previous
    head.purged_at = utcnow()
    db.session.flush()
    report.events += len(expired)
    report.through_seq = walk.seq
    return len(expired)


def purge_idempotency_records(as_of, batch_size=BATCH_SIZE):
    """Delete the idempotency records past their 24-hour window, in batches."""
    cutoff = as_of - IDEMPOTENCY_WINDOW
    total = 0
    while True:
        with database.writes():
            ids = db.session.scalars(
                select(IdempotencyRecord.id)
                .where(IdempotencyRecord.created_at < cutoff)
                .limit(batch_size)
            ).all()
            if ids:
                db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch_size:
            return total
