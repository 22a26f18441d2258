"""The verification runs started in the dashboard (chain heads are app/ledger/models.py)."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.columns import UTCDateTime
from app.extensions import db
from app.ids import new_id
from app.timestamps import utcnow


class RunState:
    """The states of a verification run."""

    PENDING = "pending"  # waiting for the job runner
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"  # the chain does not verify
    ERROR = "error"  # the run itself could not finish


class VerificationRun(db.Model):
    """One "Verify integrity" run of the dashboard: who asked, how far it got, what it found."""

    __tablename__ = "verification_runs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("ver"))
    organization_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    requested_by_id: Mapped[str | None] = mapped_column(String(40))
    requested_by_email: Mapped[str | None] = mapped_column(String(254))
    # Where the request came from, for the audit event recorded when the run ends.
    request_location: Mapped[str | None] = mapped_column(String(256))
    request_user_agent: Mapped[str | None] = mapped_column(String(1024))
    state: Mapped[str] = mapped_column(String(16), default=RunState.PENDING)
    # The runner holding the run, and when it last showed it is alive (its lease).
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    total: Mapped[int] = mapped_column(BigInteger, default=0)  # events to check
    checked: Mapped[int] = mapped_column(BigInteger, default=0)
    head_seq: Mapped[int | None] = mapped_column(BigInteger)
    head_hash: Mapped[str | None] = mapped_column(String(64))
    bad_seq: Mapped[int | None] = mapped_column(BigInteger)
    problem: Mapped[str | None] = mapped_column(String(16))  # changed, missing, out_of_order
    message: Mapped[str | None] = mapped_column(Text)

    @property
    def finished(self):
        """Whether the run has ended, one way or another."""
        return self.state not in (RunState.PENDING, RunState.RUNNING)
