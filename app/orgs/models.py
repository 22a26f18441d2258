"""Organizations and memberships."""

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.columns import UTCDateTime
from app.extensions import db
from app.ids import new_id
from app.timestamps import utcnow


class Role(enum.StrEnum):
    """What a member may do in an organization."""

    ADMIN = "admin"  # configures schemas, API keys, retention and members
    VIEWER = "viewer"  # compliance staff: browses and exports only


class Organization(db.Model):
    """A tenant: every event, schema, key and export belongs to exactly one."""

    __tablename__ = "organizations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("org"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retention_period_in_days: Mapped[int | None] = mapped_column(Integer)

    memberships = relationship("Membership", back_populates="organization")

    def __repr__(self):
        return f"<Organization {self.id} {self.name!r}>"


class Membership(db.Model):
    """A user's place in one organization, with their role there."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("organization_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The unique constraint's index serves lookups by organization.
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda e: [m.value for m in e])
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization = relationship("Organization", back_populates="memberships", lazy="joined")
    user = relationship("User", back_populates="memberships", lazy="joined")

    @property
    def is_admin(self):
        """Whether this member may change the organization's configuration."""
        return self.role == Role.ADMIN
