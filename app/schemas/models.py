"""Actions and their immutable schema versions."""

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.columns import UTCDateTime
from app.extensions import db
from app.timestamps import utcnow


class Action(db.Model):
    """An action an organization's applications may emit, such as ``user.signed_in``."""

    __tablename__ = "actions"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    versions = relationship(
        "SchemaVersion",
        back_populates="action",
        order_by="SchemaVersion.version",
        lazy="selectin",
    )

    @property
    def latest(self):
        """The newest schema version."""
        return self.versions[-1]


class SchemaVersion(db.Model):
    """One version of an action's schema; versions are never changed once written."""

    __tablename__ = "schema_versions"
    __table_args__ = (UniqueConstraint("action_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # The definition as JSON:
    # {"targets": [{"type", "metadata"?}], "actor"?: {"metadata"}, "metadata"?}
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who wrote it: "user:<email>" or "key:<key id>".
    created_by: Mapped[str | None] = mapped_column(String(300))

    action = relationship("Action", back_populates="versions")
