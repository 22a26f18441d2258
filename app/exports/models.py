"""Export jobs (a filtered stream written to a CSV or NDJSON file) and their downloads."""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.columns import UTCDateTime
from app.extensions import db
from app.ids import new_id
from app.ledger.models import BigSerial
from app.timestamps import utcnow


class ExportState(enum.StrEnum):
    """Where an export is in its life; the API shows ``running`` as ``pending``."""

    PENDING = "pending"  # waiting for a worker
    RUNNING = "running"  # a worker is writing the file
    READY = "ready"  # the file can be downloaded
    ERROR = "error"  # it failed; ``error`` says why
    EXPIRED = "expired"  # past its retention: the file is deleted


class ExportFormat(enum.StrEnum):
    """The file formats an export can be written in."""

    CSV = "csv"
    NDJSON = "ndjson"


class Export(db.Model):
    """One export of an organization's filtered events, from request to file."""

    __tablename__ = "exports"
    __table_args__ = (
        Index("ix_exports_org_created", "organization_id", "created_at"),
        # Workers look for the oldest pending (or abandoned running) job.
        Index("ix_exports_state_created", "state", "created_at"),
    )

    id: Mapped[str] = mapped_column(
        String(64), primary_key=True, default=lambda: new_id("audit_log_export")
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    format: Mapped[str] = mapped_column(String(16))
    # The filter as URL arguments (JSON of EventFilter.to_args()), its range made absolute.
    filters: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default=ExportState.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    api_key_id: Mapped[str | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    # Asked for in an Admin Portal session (app/portal/): that session's link.
    portal_link_id: Mapped[str | None] = mapped_column(
        ForeignKey("portal_links.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The worker holding the job, and when it last showed it is alive (its lease).
    worker: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    file_name: Mapped[str | None] = mapped_column(String(255))  # under EXPORTS_DIR
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)

    created_by = relationship("User")
    api_key = relationship("ApiKey")
    portal_link = relationship("PortalLink")
    downloads = relationship(
        "ExportDownload",
        back_populates="export",
        order_by="ExportDownload.downloaded_at",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def is_active(self):
        """Whether a worker still has to finish it (the page polls meanwhile)."""
        return self.state in (ExportState.PENDING, ExportState.RUNNING)

    def __repr__(self):
        return f"<Export {self.id} {self.state}>"


class ExportDownload(db.Model):
    """One download of an export's file: by a member (session), in an Admin Portal
    session (portal) or through a signed URL."""

    __tablename__ = "export_downloads"

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    export_id: Mapped[str] = mapped_column(ForeignKey("exports.id", ondelete="CASCADE"), index=True)
    downloaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    via: Mapped[str] = mapped_column(String(16))  # "session", "portal" or "signed_url"
    portal_link_id: Mapped[str | None] = mapped_column(
        ForeignKey("portal_links.id", ondelete="SET NULL")
    )
    # When the signed URL was issued: tells the URLs of one export apart.
    url_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(String(64))

    export = relationship("Export", back_populates="downloads")
    user = relationship("User")
    portal_link = relationship("PortalLink")
