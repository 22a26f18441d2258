"""Idempotency records: the first answer given to each Idempotency-Key."""

from datetime import datetime, timedelta

from sqlalchemy import ForeignKey, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.columns import UTCDateTime
from app.extensions import db
from app.ledger.models import BigSerial
from app.timestamps import utcnow

IDEMPOTENCY_WINDOW = timedelta(hours=24)


class IdempotencyRecord(db.Model):
    """The first answer given to a request with an ``Idempotency-Key``, for replaying it.

    The unique constraint, not a read before the write, is what makes two concurrent
    requests with one key store only one event.
    """

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("organization_id", "key"),)

    id: Mapped[int] = mapped_column(BigSerial, primary_key=True, autoincrement=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
