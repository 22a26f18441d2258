"""Column types shared by the models."""

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from app.timestamps import as_utc


class UTCDateTime(TypeDecorator):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps it as ``timestamptz``; SQLite, which has no time zones, keeps the
    naive UTC value, which sorts correctly as text.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        """Store UTC (naive on SQLite, aware elsewhere)."""
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        """Read back an aware UTC datetime."""
        return as_utc(value)
