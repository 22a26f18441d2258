"""UTC time: the one clock the service uses, and the one wire format it prints."""

from datetime import UTC, datetime

# The times the service accepts: wide enough for any real audit trail, and far enough from
# datetime's own limits that arithmetic on them (time zones, chart buckets) cannot overflow.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)  # exclusive
BOUNDS_TEXT = "between 1900-01-01 and 2999-12-31"


def parse_bounded(parse, value):
    """``parse(value)`` as aware UTC within the accepted bounds, else ``ValueError``."""
    try:
        parsed = parse(value)
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC)
    except OverflowError as error:
        raise ValueError(f"must be {BOUNDS_TEXT}") from error
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
    if not EARLIEST <= parsed < LATEST:
        raise ValueError(f"must be {BOUNDS_TEXT}")
    return parsed


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
    return as_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def isoformat_exact(value):
    """Like ``isoformat`` but keeping microseconds when a value has them (nothing is lost)."""
    value = as_utc(value)
    timespec = "microseconds" if value.microsecond % 1000 else "milliseconds"
    return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"
