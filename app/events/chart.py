"""The bar chart above the list: how many events match the filters, per hour, day or week.

Counted by the database per bucket and laid out here, so the template only draws
rectangles (an inline SVG: no script, no style attributes).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import String, func, select

from app.events.pages import matching_conditions
from app.extensions import db
from app.ledger.models import Event
from app.timestamps import as_utc, utcnow

HOUR, DAY, WEEK = timedelta(hours=1), timedelta(days=1), timedelta(days=7)
WIDTH, HEIGHT = 1000, 160  # the SVG's coordinate space


@dataclass
class Bar:
    """One bucket: its time span, its count and where it is drawn."""

    start: datetime
    end: datetime
    count: int
    x: float = 0
    y: float = 0
    width: float = 0
    height: float = 0


@dataclass
class Histogram:
    """The bars, their unit ("hour", "day" or "week") and the largest count."""

    bars: list
    unit: str
    total: int
    peak: int


MAX_SPAN = timedelta(days=3 * 366)  # the widest range the chart draws


def bucket_size(span):
    """Hours up to two days, days up to half a year, weeks beyond."""
    if span <= timedelta(hours=48):
        return HOUR
    if span <= timedelta(days=183):
        return DAY
    return WEEK


def floor_time(moment, size):
    """The start of the bucket holding ``moment`` (weeks start on Monday)."""
    moment = as_utc(moment)
    if size == HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday()) if size == WEEK else day


def bucket_label(size, dialect):
    """SQL for an event's hour or day, as text that sorts and parses back."""
    if dialect == "postgresql":
        utc = func.timezone("UTC", Event.occurred_at)
        return func.to_char(utc, "YYYY-MM-DD HH24" if size == HOUR else "YYYY-MM-DD")
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
    return func.substr(Event.occurred_at, 1, 13 if size == HOUR else 10, type_=String)


def parse_label(label, size):
    """A bucket label back to its start time."""
    pattern = "%Y-%m-%d %H" if size == HOUR else "%Y-%m-%d"
    return as_utc(datetime.strptime(label, pattern))


def histogram(org_id, event_filter, now=None):
    """Count the filter's events per bucket over its range (all time: the org's span)."""
    now = now or utcnow()
    start, end = event_filter.start, event_filter.end
    if start is None or end is None:
        # Two queries: SQLite answers a lone min() or max() from the index at once, but
        # scans every row for both in one SELECT.
        first = start or db.session.scalar(
            select(func.min(Event.occurred_at)).where(Event.organization_id == org_id)
        )
        last = end or db.session.scalar(
            select(func.max(Event.occurred_at)).where(Event.organization_id == org_id)
        )
        if first is None or last is None:
            return Histogram([], "day", 0, 0)
        start = as_utc(first)
        end = end or max(now, as_utc(last) + timedelta(microseconds=1))
    # At most MAX_SPAN of bars: an organization whose events span centuries (say, one
    # back-dated import) still gets a readable chart of its recent past.
    start = max(start, end - MAX_SPAN)
    size = bucket_size(end - start)
    dialect = db.engine.dialect.name
    label = bucket_label(DAY if size == WEEK else size, dialect).label("bucket")
    rows = db.session.execute(
        select(label, func.count())
        .where(*matching_conditions(org_id, event_filter))
        .where(Event.occurred_at >= start, Event.occurred_at < end)
        .group_by(label)
    ).all()
    counts = {}
    for text, count in rows:
        moment = floor_time(parse_label(text, DAY if size == WEEK else size), size)
        counts[moment] = counts.get(moment, 0) + count
    bars, moment = [], floor_time(start, size)
    while moment < end:
        bars.append(Bar(moment, moment + size, counts.get(moment, 0)))
        moment += size
    return lay_out(bars, {HOUR: "hour", DAY: "day", WEEK: "week"}[size])


def lay_out(bars, unit):
    """Place the bars in the SVG's coordinate space, the tallest filling the height."""
    peak = max((bar.count for bar in bars), default=0)
    step = WIDTH / max(len(bars), 1)
    gap = min(step * 0.2, 4)
    for index, bar in enumerate(bars):
        bar.x = round(index * step + gap / 2, 2)
        bar.width = round(max(step - gap, 1), 2)
        bar.height = round(HEIGHT * bar.count / peak, 2) if peak else 0
        if bar.count and bar.height < 2:
            bar.height = 2  # a bucket with events never looks empty
        bar.y = round(HEIGHT - bar.height, 2)
    return Histogram(bars, unit, sum(bar.count for bar in bars), peak)
