"""A portal link, and the portal session it opens (the same row: a link opens once)."""

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.columns import UTCDateTime
from app.extensions import db
from app.ids import new_id
from app.timestamps import utcnow


class Intent(enum.StrEnum):
    """What a portal session may do: WorkOS's intents that this service has."""

    AUDIT_LOGS = "audit_logs"  # browse, filter and export the organization's events
    LOG_STREAMS = "log_streams"  # set up and manage the organization's log streams


class LinkState(enum.StrEnum):
    """Where a link is in its life, as the dashboard shows it."""

    WAITING = "waiting"  # generated, not opened yet, still openable
    UNOPENED = "unopened"  # never opened, and too late now
    ACTIVE = "active"  # opened: its session runs
    ENDED = "ended"  # opened, and its session has run out or was closed
    REVOKED = "revoked"


class PortalLink(db.Model):
    """One generated link. Only a hash of its secret is kept; opening it once starts a
    session (``opened_at`` .. ``session_expires_at``) that revoking ends at once."""

    __tablename__ = "portal_links"
    __table_args__ = (
        Index("ix_portal_links_org_created", "organization_id", "created_at"),
        Index("ix_portal_links_org_external_user", "organization_id", "external_user_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("portal"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    intent: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256, hex
    return_url: Mapped[str | None] = mapped_column(Text)
    success_url: Mapped[str | None] = mapped_column(Text)
    external_user_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300))  # "api_key:<id>" or "cli:<user>"
    open_by: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_from: Mapped[str | None] = mapped_column(String(256))
    session_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[str | None] = mapped_column(String(300))

    organization = relationship("Organization", lazy="joined")

    def state(self, now=None):
        """The link's state at ``now``."""
        now = now or utcnow()
        if self.revoked_at is not None:
            return LinkState.REVOKED
        if self.opened_at is None:
            return LinkState.WAITING if now < self.open_by else LinkState.UNOPENED
        if self.closed_at is not None or now >= self.session_expires_at:
            return LinkState.ENDED
        return LinkState.ACTIVE

    @property
    def who(self):
        """How the portal's visitor is named in the log and on pages."""
        return self.external_user_id or self.id

    def __repr__(self):
        return f"<PortalLink {self.id} {self.intent}>"
