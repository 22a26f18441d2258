"""Pages of events, newest first, with keyset cursors over (occurred_at, id): never OFFSET.

A page must cost about the same at the millionth event as at the first, whatever the
filters. So the query walks one index that yields rows already in (occurred_at, id) order
and checks the other filters on the rows it meets (the *driver*):

- a target filter walks event_targets by (target id or type, occurred_at);
- an actor prefix matching few ids and names, or a few actions, walks each value's
  (value, occurred_at, id) entries and merges them;
- free text matching few events takes them through the term dictionary (app/ledger/
  search.py) and sorts them;
- otherwise, the (organization, occurred_at, id) index.

Where several filters could drive, an estimate of each one's index entries in the date
range picks the most selective (``estimate_entries``): when all are dense, walking the
index of 16,000 events still beats walking one of 120,000 while the other filters are
tested on the way.
"""

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    bindparam,
    false,
    func,
    literal_column,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
)

from app.columns import UTCDateTime
from app.extensions import db
from app.ledger import search
from app.ledger.models import Event, EventTarget
from app.timestamps import isoformat_exact, parse_bounded

PAGE_SIZE = 50
PROBE = 2000  # free text's matches looked up, or index entries read, before estimating
MAX_BRANCHES = 20  # values of one filter merged before walking time instead
EVENT_ID = re.compile(r"evt_[0-9A-HJKMNP-TV-Z]{26}")


class InvalidCursor(ValueError):
    """A cursor this server did not hand out."""


@dataclass
class Page:
    """One page of events and the cursor of the next one (``None`` on the last)."""

    events: list
    next_cursor: str | None


def encode_cursor(event):
    """An opaque cursor for the position just after ``event``."""
    raw = f"{isoformat_exact(event.occurred_at)}|{event.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor):
    """The (occurred_at, id) inside a cursor; ``InvalidCursor`` if it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, event_id = raw.split("|")
        occurred_at = parse_bounded(datetime.fromisoformat, moment.replace("Z", "+00:00"))
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise InvalidCursor(cursor) from error
    if not EVENT_ID.fullmatch(event_id):
        raise InvalidCursor(cursor)
    return occurred_at, event_id


def event_page(org_id, event_filter, after=None, limit=PAGE_SIZE):
    """The events matching the filter after the cursor ``after``, newest first."""
    position = decode_cursor(after) if after else None
    driver = Driver.choose(org_id, event_filter, db.engine.dialect.name)
    wanted = limit + 1
    while True:
        rows = db.session.execute(driver.keys(position, wanted)).all()
        # An event with the same target twice comes twice through event_targets.
        pks = list(dict.fromkeys(row.pk for row in rows))
        if len(pks) > limit or len(rows) < wanted:
            break
        wanted *= 2
    more = len(pks) > limit
    pks = pks[:limit]
    events = (
        db.session.scalars(
            select(Event)
            .where(Event.pk.in_(pks))
            .order_by(Event.occurred_at.desc(), Event.id.desc())
        ).all()
        if pks
        else []
    )
    return Page(events, encode_cursor(events[-1]) if more else None)


def after_position(occurred_at, event_id, position):
    """Rows after the cursor position in (occurred_at DESC, id DESC) order."""
    if position is None:
        return []
    return [
        tuple_(occurred_at, event_id)
        < tuple_(
            bindparam("cursor_time", position[0], type_=UTCDateTime()),
            bindparam("cursor_id", position[1]),
        )
    ]


def newest_first(query, limit, occurred_at=Event.occurred_at, event_id=Event.id):
    """Order by (occurred_at, id) descending and cut at ``limit``."""
    return query.order_by(occurred_at.desc(), event_id.desc()).limit(limit)


KEY_COLUMNS = (Event.pk, Event.occurred_at, Event.id)


class Driver:
    """How one page is found: which index is walked, and what is checked on the way."""

    skip = ()
    estimate = PROBE
    built = None  # the conditions, once built

    def __init__(self, org_id, event_filter, dialect):
        self.org_id = org_id
        self.filter = event_filter
        self.dialect = dialect

    @classmethod
    def choose(cls, org_id, event_filter, dialect):
        """The driver that reads the fewest entries for this filter."""
        candidates = [
            kind(org_id, event_filter, dialect)
            for kind in (TargetDriver, ActorDriver, ActionDriver, TextDriver)
            if kind.applies(event_filter, dialect)
        ]
        candidates = [c for c in candidates if c.usable()]
        if not candidates:
            return cls(org_id, event_filter, dialect)
        if len(candidates) == 1 and not isinstance(candidates[0], TextDriver):
            return candidates[0]
        walkable = [c for c in candidates if not isinstance(c, TextDriver)]
        best = min(walkable, key=lambda c: c.measure(), default=None)
        text_driver = next((c for c in candidates if isinstance(c, TextDriver)), None)
        if (
            text_driver is not None
            and text_driver.measure() < PROBE
            and (best is None or text_driver.estimate <= best.estimate)
        ):
            return text_driver
        # Dense free text has no index in time order: alone, it walks time.
        return best or cls(org_id, event_filter, dialect)

    @staticmethod
    def applies(event_filter, dialect):
        return True

    def usable(self):
        return True

    def measure(self):
        """Matching entries, counted up to a bound."""
        return self.estimate

    def conditions(self):
        """The filter's conditions but the driver's own (built once: a walk of many
        branches repeats them in each, and building them cost more than running some)."""
        if self.built is None:
            self.built = self.filter.conditions(self.org_id, self.dialect, skip=self.skip)
        return self.built

    def keys(self, position, limit):
        """(pk, occurred_at, id) of the next ``limit`` matches, newest first."""
        query = select(*KEY_COLUMNS).where(
            *self.conditions(), *after_position(Event.occurred_at, Event.id, position)
        )
        return newest_first(query, limit)


class TargetDriver(Driver):
    """Walks event_targets by target id (or type) and occurred_at."""

    skip = ("target",)

    @staticmethod
    def applies(event_filter, dialect):
        return bool(event_filter.target_id or event_filter.target_type)

    def target_rows(self, *extra):
        f = self.filter
        found = [EventTarget.organization_id == self.org_id, *f.target_conditions(), *extra]
        if f.start is not None:
            found.append(EventTarget.occurred_at >= f.start)
        if f.end is not None:
            found.append(EventTarget.occurred_at < f.end)
        return found

    def measure(self):
        # occurred_at is in the index: reading it reads no table rows.
        entries = select(EventTarget.occurred_at.label("occurred_at")).where(*self.target_rows())
        self.estimate = estimate_entries([entries], self.filter)[0]
        return self.estimate

    def keys(self, position, limit):
        query = (
            select(*KEY_COLUMNS)
            .select_from(EventTarget)
            .join(Event, Event.id == EventTarget.event_id)
            .where(
                *self.target_rows(
                    *after_position(EventTarget.occurred_at, EventTarget.event_id, position)
                ),
                *self.conditions(),
            )
        )
        return newest_first(query, limit, EventTarget.occurred_at, EventTarget.event_id)


class BranchDriver(Driver):
    """Merges the time-ordered index entries of a few values of indexed columns.

    The branches never share a row (``disjoint``), and both databases merge them lazily,
    reading each branch's index only as far as the page needs: PostgreSQL plans a Merge
    Append of index scans under ``UNION ALL``, SQLite a co-routine merge of a compound
    SELECT ordered as a whole. Cutting each branch at the page size instead would read a
    page's worth of rows from every branch (figures: docs/performance.md).
    """

    def branches(self):
        """[(column, value)] to merge."""
        raise NotImplementedError

    def disjoint(self, column):
        """Conditions that keep a branch on ``column`` from repeating another branch's rows."""
        return []

    def branch(self, column, value, after):
        """The keys of one branch's matches after the cursor (``after``: its conditions),
        in no order."""
        return select(*KEY_COLUMNS).where(
            column == value, *self.disjoint(column), *self.conditions(), *after
        )

    def usable(self):
        self.values = self.branches()
        return self.values is not None and len(self.values) <= MAX_BRANCHES

    def measure(self):
        """The values' own index entries in the date range, estimated (index-only: the
        other filters are left out)."""
        if not self.values:
            self.estimate = 0
            return 0
        f = self.filter
        span = [Event.organization_id == self.org_id]
        if f.start is not None:
            span.append(Event.occurred_at >= f.start)
        if f.end is not None:
            span.append(Event.occurred_at < f.end)
        branches = [
            select(Event.occurred_at.label("occurred_at")).where(column == value, *span)
            for column, value in self.values
        ]
        self.estimate = sum(estimate_entries(branches, f))
        return self.estimate

    def keys(self, position, limit):
        if not self.values:
            return select(*KEY_COLUMNS).where(false())
        after = after_position(Event.occurred_at, Event.id, position)
        arms = [self.branch(column, value, after) for column, value in self.values]
        if len(arms) == 1:
            return newest_first(arms[0], limit)
        if self.dialect != "postgresql":
            # Ordered as a whole, the compound is merged as co-routines, each arm read from
            # its index in order (a subquery would be flattened and sorted instead).
            order = (literal_column("occurred_at").desc(), literal_column("id").desc())
            return union_all(*arms).order_by(*order).limit(limit)
        ordered = [newest_first(arm, None).subquery() for arm in arms]
        merged = union_all(*(select(s.c.pk, s.c.occurred_at, s.c.id) for s in ordered)).subquery()
        return newest_first(
            select(merged.c.pk, merged.c.occurred_at, merged.c.id),
            limit,
            merged.c.occurred_at,
            merged.c.id,
        )


class ActionDriver(BranchDriver):
    """One or more actions, each walked on (organization, action, occurred_at, id)."""

    skip = ("action",)

    @staticmethod
    def applies(event_filter, dialect):
        return bool(event_filter.actions)

    def branches(self):
        return [(Event.action, action) for action in self.filter.actions]


class ActorDriver(BranchDriver):
    """An actor prefix: the ids and names it matches, each walked in time order."""

    skip = ("actor",)

    @staticmethod
    def applies(event_filter, dialect):
        return bool(event_filter.actor)

    def disjoint(self, column):
        # An event of a matched actor id is that id's branch's, whatever its actor's name.
        ids = [value for branch_column, value in self.values if branch_column is Event.actor_id]
        if column is Event.actor_name and ids:
            return [Event.actor_id.not_in(ids)]
        return []

    def branches(self):
        prefix = self.filter.actor
        found = []
        for column, name in ((Event.actor_id, "actor_id"), (Event.actor_name, "actor_name")):
            values = distinct_with_prefix(self.org_id, name, prefix, MAX_BRANCHES + 1)
            found.extend((column, value) for value in values)
            if len(found) > MAX_BRANCHES:
                return None
        return found


class TextDriver(Driver):
    """Few text matches: found through the full-text index, then sorted.

    The matching names come from the term dictionary's full-text index, then the events
    with those names from the events' own indexes (app/ledger/search.py), first (a
    planner would otherwise walk time and test every row).
    """

    skip = ("q",)
    candidates = None

    @staticmethod
    def applies(event_filter, dialect):
        return bool(event_filter.q)

    def measure(self):
        self.candidates = search.candidate_ids(
            db.session, self.org_id, self.filter.q, PROBE, self.dialect
        )
        self.estimate = PROBE if self.candidates is None else len(self.candidates)
        return self.estimate

    def text_condition(self):
        return Event.id.in_(self.candidates or [""])  # no event's id is empty

    def keys(self, position, limit):
        query = select(*KEY_COLUMNS).where(
            self.text_condition(),
            *self.conditions(),
            *after_position(Event.occurred_at, Event.id, position),
        )
        return newest_first(query, limit)


EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # where an open date range is taken to start


def estimate_entries(branches, event_filter):
    """How many index entries each of the ``branches`` (selects of one ``occurred_at``
    column, in the filter's date range) holds: exact for a branch with fewer than its
    share of ``PROBE``, else extrapolated from how far back in time its newest entries
    reach. One statement; it reads at most ``PROBE`` entries in all.

    Reading a bounded number of entries newest first costs the same for every filter,
    however dense; a count bounded higher (20,000) cost PostgreSQL too much a filter, and
    a lower bound ranked every dense filter the same. Density varies over time, but the
    filters compared share one range, so the ranking holds where it matters (figures:
    docs/performance.md).
    """
    share = max(PROBE // len(branches), 100)
    parts = [
        branch.order_by(branch.selected_columns[0].desc()).limit(share).subquery()
        for branch in branches
    ]
    # Typed, so that SQLite's text comes back an aware datetime, as the column reads.
    counted = [
        select(func.count(), type_coerce(func.min(part.c.occurred_at), UTCDateTime()))
        for part in parts
    ]
    found = db.session.execute(union_all(*counted)).all()
    end = event_filter.end or datetime.now(UTC)
    start = event_filter.start or EARLIEST
    estimates = []
    for count, oldest in found:
        if count < share:
            estimates.append(count)
            continue
        reached = max((end - oldest).total_seconds(), 1e-6)
        estimates.append(round(count * (end - start).total_seconds() / reached))
    return estimates


def distinct_with_prefix(org_id, column, prefix, limit, table="events"):
    """Up to ``limit`` distinct values of ``table.column`` starting with ``prefix``.

    A loose index scan: each step seeks the next value on the (organization, column, ...)
    index, so it costs one seek per value however many events each value has.
    """
    sql = text(
        f"""
        WITH RECURSIVE found(value) AS (
          SELECT (SELECT min({column}) FROM {table}
                  WHERE organization_id = :org AND {column} >= :low AND {column} < :high)
          UNION ALL
          SELECT (SELECT min({column}) FROM {table}
                  WHERE organization_id = :org AND {column} > found.value AND {column} < :high)
          FROM found WHERE found.value IS NOT NULL
        )
        SELECT value FROM found WHERE value IS NOT NULL LIMIT :limit
        """  # noqa: S608  (names come from this module)
    )
    values = db.session.scalars(
        sql, {"org": org_id, "low": prefix, "high": prefix + "\U0010ffff", "limit": limit}
    ).all()
    return [value for value in values if value.startswith(prefix)]


def target_types(org_id, limit=100):
    """The target types the organization's events use (for suggestions)."""
    return distinct_with_prefix(org_id, "type", "", limit, table="event_targets")


def matching_conditions(org_id, event_filter):
    """Conditions selecting exactly the filter's events, in the form its driver indexes best.

    For aggregates (the chart, exports): only free text has a faster exact form, the
    full-text index's candidates when it matches few events; the other drivers order a
    walk, which an aggregate does not need, so they are not measured.
    """
    dialect = db.engine.dialect.name
    if event_filter.q:
        driver = TextDriver(org_id, event_filter, dialect)
        if driver.measure() < PROBE:
            return [*driver.conditions(), driver.text_condition()]
    return event_filter.conditions(org_id, dialect)
