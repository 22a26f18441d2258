"""UTC time: the one clock the service uses, and the one wire format it prints."""

from datetime import UTC, datetime


def utcnow():
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def as_utc(value):
    """Return ``value`` as an aware UTC datetime (naive values are taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def isoformat(value):
    """Format a datetime as the API prints it: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    return (
        as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{as_utc(value).microsecond // 1000:03d}Z"
    )


def isoformat_exact(value):
    """Like ``isoformat`` but keeping microseconds when a value has them (nothing is lost)."""
    value = as_utc(value)
    if value.microsecond % 1000:
        return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return isoformat(value)
