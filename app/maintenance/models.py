"""When each maintenance job last ran, and which process holds it now."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.columns import UTCDateTime
from app.extensions import db


class MaintenanceJob(db.Model):
    """A job that one process at a time runs: a lease (``locked_until``) and its last run."""

    __tablename__ = "maintenance_jobs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_result: Mapped[str | None] = mapped_column(String(500))
