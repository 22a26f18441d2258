"""Stored events, their targets (indexed for filtering), search terms and chain heads."""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.columns import UTCDateTime
from app.extensions import db

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigSerial = BigInteger().with_variant(Integer, "sqlite")


class Event(db.Model):
    """An audit log event, exactly as accepted. Rows are inserted, never updated.

    ``payload`` holds the event as the API accepted it (``occurred_at`` normalised to
    UTC); the other columns repeat what the viewer and exports filter on, so that they
    can be indexed.
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_org_occurred", "organization_id", "occurred_at", "id"),
        # The viewer's filters each walk one of these in (occurred_at, id) order, so a page
        # reads about as many index entries as it shows (app/events/pages.py).
        Index("ix_events_org_action_occurred", "organization_id", "action", "occurred_at", "id"),
        Index("ix_events_org_actor_occurred", "organization_id", "actor_id", "occurred_at", "id"),
        Index(
            "ix_events_org_actor_name_occurred",
            "organization_id",
            "actor_name",
            "occurred_at",
            "id",
        ),
        # The hash chain's order: verification walks it, the purge deletes its oldest end.
        Index("ux_events_org_seq", "organization_id", "seq", unique=True),
    )

    pk: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    # Position in the organization's hash chain (from 1) and the chain's hash through this
    # event: set by app/ledger/chain.py in the inserting transaction.
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_type: Mapped[str] = mapped_column(String(256))
    actor_id: Mapped[str] = mapped_column(String(256))
    actor_name: Mapped[str | None] = mapped_column(String(512))
    location: Mapped[str] = mapped_column(String(256))
    user_agent: Mapped[str | None] = mapped_column(String(1024))
    payload: Mapped[str] = mapped_column(Text)
    # Free text's haystack: the action, actor name and target names joined by U+001F
    # (which a search may not contain), so that one substring test over one trigram index
    # matches exactly one of them (app/ledger/search.py). Derived from the payload.
    search_text: Mapped[str] = mapped_column(Text, server_default="", nullable=False)

    targets = relationship(
        "EventTarget",
        primaryjoin="Event.id == foreign(EventTarget.event_id)",
        order_by="EventTarget.position",
        lazy="selectin",
    )


class EventTarget(db.Model):
    """One target of an event, in its own indexed row for filtering by type and id."""

    __tablename__ = "event_targets"
    __table_args__ = (
        Index(
            "ix_event_targets_org_target_occurred",
            "organization_id",
            "target_id",
            "occurred_at",
            "event_id",
        ),
        Index(
            "ix_event_targets_org_type_occurred",
            "organization_id",
            "type",
            "occurred_at",
            "event_id",
        ),
        # Free text reads the events of a matching target name from it alone (app/ledger/search.py).
        Index("ix_event_targets_org_name", "organization_id", "name", "event_id"),
    )

    pk: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    # The event's public id, which the writer generates: no RETURNING round trip needed.
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    organization_id: Mapped[str] = mapped_column(String(40))
    position: Mapped[int] = mapped_column(SmallInteger)
    type: Mapped[str] = mapped_column(String(256))
    target_id: Mapped[str] = mapped_column(String(256))
    name: Mapped[str | None] = mapped_column(String(512))
    # The event's occurred_at again, so that filtering by target pages in time order.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SearchTerm(db.Model):
    """One distinct action, actor name or target name of an organization's events.

    Free text looks for the terms that contain the searched text in this small table
    (full-text indexed: SQLite FTS5, PostgreSQL pg_trgm; see app/ledger/search.py), then
    for the events with those exact values through the events' own indexes. Every insert
    path adds its events' terms in the inserting transaction (``search.term_rows``);
    the retention purge removes terms no event uses any more.
    """

    __tablename__ = "search_terms"
    __table_args__ = (UniqueConstraint("organization_id", "term"),)

    pk: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    term: Mapped[str] = mapped_column(String(512))


GENESIS_HASH = "0" * 64


class ChainHead(db.Model):
    """Where an organization's chain ends, and where it starts after retention purges.

    Its row is also the lock that keeps the chain linear: every insert path locks it
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's single write lock) before it
    numbers and hashes new events.
    """

    __tablename__ = "chain_heads"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger)  # the last event's seq, 0 before any
    hash: Mapped[str] = mapped_column(String(64))  # the last event's hash, else genesis
    # The purge checkpoint: events up to this seq were deleted by retention, and this was
    # the hash of the last of them. Verification starts from here.
    purged_through_seq: Mapped[int] = mapped_column(BigInteger)
    purged_through_hash: Mapped[str] = mapped_column(String(64))
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EventHour(db.Model):
    """The ``seq`` span of an organization's events that occurred in one hour.

    A list in ``seq`` order filtered by a date range walks the (organization, seq)
    index; the spans of the range's hours bound that walk to the seqs where its events
    can be (app/events/sequence.py). Every insert path widens them in the inserting
    transaction, under the chain lock (``Appender.append``); the retention purge drops
    the spans it emptied. A span may be wider than its events, never narrower.
    """

    __tablename__ = "event_hours"

    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)  # UTC hours since 1970
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
