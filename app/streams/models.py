"""Log streams: where an organization's events are delivered, and how far delivery got."""

import enum
from datetime import datetime

import orjson
from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, and_, or_
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from app.columns import UTCDateTime
from app.extensions import db
from app.ids import new_id
from app.timestamps import utcnow


class StreamState(enum.StrEnum):
    """A stream's state, as its page shows it (docs/streams.md)."""

    ACTIVE = "active"  # delivering (or waiting for events)
    FAILING = "failing"  # the last 5 or more tries failed; still retrying with backoff
    PAUSED = (
        "paused"  # stopped by the service (refused, or 24 hours of failures); an admin resumes it
    )
    DISABLED = "disabled"  # paused by an admin


# The states in which a stream delivers.
DELIVERING = (StreamState.ACTIVE, StreamState.FAILING)


class LogStream(db.Model):
    """One destination of an organization's events, with its delivery cursor.

    The row is also a job of the runner (app/jobs/lease.py): ``job_state``, ``worker``,
    ``heartbeat_at`` and ``attempts`` are its lease, so one worker at a time delivers a
    stream, in ``seq`` order. ``cursor_seq`` is the last ``seq`` a destination confirmed;
    it only moves after a confirmed send, under the lease.
    """

    __tablename__ = "log_streams"
    __table_args__ = (Index("ix_log_streams_job", "job_state", "state"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("als"))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    settings: Mapped[str] = mapped_column(Text)  # JSON, as the kind's check() returns it
    secret_encrypted: Mapped[str | None] = mapped_column(Text)  # app/streams/secrets.py
    state: Mapped[str] = mapped_column(String(16), default=StreamState.ACTIVE)
    state_reason: Mapped[str | None] = mapped_column(Text)  # why it is paused or disabled
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When an admin last changed it (a round in progress ends early to take the change).
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    # Delivery.
    cursor_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered_events: Mapped[int] = mapped_column(BigInteger, default=0)
    delivered_batches: Mapped[int] = mapped_column(BigInteger, default=0)
    # Events retention purged before this stream delivered them (it was paused that long).
    purged_unsent: Mapped[int] = mapped_column(BigInteger, default=0)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)  # with the destination's answer
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # in a row
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last seq of a batch that failed: it is retried as it was (the same key, the same
    # events), not grown by the events that arrived meanwhile.
    pending_last_seq: Mapped[int | None] = mapped_column(BigInteger)

    # "Send test event": asked for in a request, sent by the runner.
    test_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_requested_by: Mapped[str | None] = mapped_column(String(254))
    test_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The request the last test answered (its requested_at): the web server's clock and the
    # worker's are never compared.
    test_done_for: Mapped[datetime | None] = mapped_column(UTCDateTime)
    test_ok: Mapped[bool | None] = mapped_column(Boolean)
    test_result: Mapped[str | None] = mapped_column(Text)

    # The lease (app/jobs/lease.py): "idle" between rounds, "running" while delivering.
    job_state: Mapped[str] = mapped_column(String(16), default="idle")
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    @hybrid_property
    def test_pending(self):
        """Whether a test event was asked for and not sent yet."""
        return self.test_requested_at is not None and self.test_done_for != self.test_requested_at

    @test_pending.inplace.expression
    @classmethod
    def _test_pending(cls):
        return and_(
            cls.test_requested_at.is_not(None),
            or_(cls.test_done_for.is_(None), cls.test_done_for != cls.test_requested_at),
        )

    @property
    def parsed_settings(self):
        """The settings, as the kind's ``check`` returned them (without the secret)."""
        return orjson.loads(self.settings)

    def due(self, now):
        """Whether it delivers now (not paused, not waiting out a backoff)."""
        return self.state in DELIVERING and (
            self.next_attempt_at is None or self.next_attempt_at <= now
        )

    def __repr__(self):
        return f"<LogStream {self.id} {self.kind} {self.state}>"
