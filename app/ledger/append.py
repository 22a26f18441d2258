"""Appending events: the one insert path of the ledger.

Every event, whoever sends it, is stored here: the API's through the event writer
(app/ingest/writer.py), which prepares each request's events with ``Appender.prepare``
in the request thread and appends many requests' at once with ``Appender.append``;
the dashboard's own audit trail and the demo seeder through ``append_rows``, in the
transaction of the session they run in. Either way the events are numbered and hashed
in their organization's chain (app/ledger/chain.py), inserted with their targets, and
their search terms added, in the inserting transaction.

Events are only ever inserted. Nothing here (or anywhere else but the documented
retention purge) updates or deletes them.
"""

import functools
import itertools
import operator
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import orjson

from app.ids import new_id, new_ids
from app.ledger import chain, search
from app.ledger.models import Event, EventHour, EventTarget
from app.timestamps import as_utc, isoformat_exact

EVENTS = Event.__table__
TARGETS = EventTarget.__table__
HOURS = EventHour.__table__
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_HOUR = timedelta(hours=1)
# The two-argument min and max, as each dialect names them.
LEAST_GREATEST = {"sqlite": ("min", "max"), "postgresql": ("least", "greatest")}
# The most events one transaction appends (the event writer's groups, the demo's chunks).
MAX_EVENTS_PER_TRANSACTION = 5000


class Prepared(NamedTuple):
    """Events ready to append: their rows as the statements take them (``Appender.prepare``)."""

    events: list  # each event's values in column order, seq and hash still None
    chain: list  # each event's document_parts (head, tail) for the hash chain
    targets: list  # each target's values in column order
    terms: list  # the distinct search_terms rows of the events (tuples of values)
    hours: list  # each event's ``hour_of`` its occurred_at


def hour_of(moment):
    """The ``event_hours`` hour of a timestamp: whole UTC hours since 1970, floored."""
    return (as_utc(moment) - EPOCH) // ONE_HOUR


def stored_payload(raw, occurred_at):
    """The event as the API accepted it, with ``occurred_at`` normalised to UTC."""
    return {**raw, "occurred_at": isoformat_exact(occurred_at)}


def event_row(org_id, raw, parsed, received_at, event_id=None):
    """The events-table row for one accepted event (a fresh id unless given one)."""
    occurred_at, actor, context = parsed["occurred_at"], parsed["actor"], parsed["context"]
    actor_name = actor.get("name")
    return {
        "id": event_id or new_id("evt"),
        "organization_id": org_id,
        "action": parsed["action"],
        "version": parsed.get("version") or 1,
        "occurred_at": occurred_at,
        "received_at": received_at,
        "actor_type": actor["type"],
        "actor_id": actor["id"],
        "actor_name": actor_name,
        "location": context["location"],
        "user_agent": context.get("user_agent"),
        "payload": orjson.dumps(stored_payload(raw, occurred_at)).decode(),
        "search_text": search.haystack(
            parsed["action"], actor_name, [target.get("name") for target in parsed["targets"]]
        ),
    }


def accepted_rows(org_id, accepted, received_at):
    """``(rows, targets)``: the events-table rows, with fresh ids, and the event_targets
    rows of accepted events (pairs of the raw dict and its parsed shape)."""
    rows, targets = [], []
    for (raw, parsed), event_id in zip(accepted, new_ids("evt", len(accepted)), strict=True):
        row = event_row(org_id, raw, parsed, received_at, event_id)
        rows.append(row)
        targets.extend(target_rows(row, parsed))
    return rows, targets


def target_rows(row, parsed):
    """The event_targets rows of one event's row."""
    return [
        {
            "event_id": row["id"],
            "organization_id": row["organization_id"],
            "position": position,
            "type": target["type"],
            "target_id": target["id"],
            "name": target.get("name"),
            "occurred_at": parsed["occurred_at"],
        }
        for position, target in enumerate(parsed["targets"])
    ]


class Appender:
    """The statements that append events, built once per database dialect."""

    def __init__(self, dialect):
        self.dialect = dialect.name
        self.insert_events = BulkInsert(EVENTS, dialect)
        self.insert_targets = BulkInsert(TARGETS, dialect)
        self.insert_terms = BulkInsert(
            search.TERMS, dialect, suffix="ON CONFLICT (organization_id, term) DO NOTHING"
        )
        least, greatest = LEAST_GREATEST[dialect.name]
        self.widen_hours = BulkInsert(  # a span only ever widens
            HOURS,
            dialect,
            suffix="ON CONFLICT (organization_id, hour) DO UPDATE SET "
            f"first_seq = {least}(event_hours.first_seq, excluded.first_seq), "
            f"last_seq = {greatest}(event_hours.last_seq, excluded.last_seq)",
        )
        self.seq_index = self.insert_events.names.index("seq")
        self.hash_index = self.insert_events.names.index("hash")
        self.org_index = self.insert_events.names.index("organization_id")

    def prepare(self, rows, targets):
        """``Prepared`` for events-table rows (``event_row``) and their targets' rows.

        All of this is per event and needs no lock, so none of it waits in the writer's
        single line: converting values for the driver, and the canonical JSON of each
        event's chain document around its sequence number. Under the chain lock,
        ``append`` only numbers and hashes.
        """
        chain_parts = [chain.row_parts(row) for row in rows]
        for row in rows:
            row["seq"] = row["hash"] = None  # set by append under the chain lock
        term_rows = search.term_rows(rows, targets)
        return Prepared(
            self.insert_events.values(rows),
            chain_parts,
            self.insert_targets.values(targets),
            [tuple(values) for values in self.insert_terms.values(term_rows)],
            [hour_of(row["occurred_at"]) for row in rows],
        )

    def append(self, cursor, batches):
        """Append prepared events (a list of ``Prepared``, in order) through a driver
        cursor inside the inserting transaction: number and hash them under each
        organization's chain lock, insert them and their targets, add their terms."""
        events = [values for prepared in batches for values in prepared.events]
        if not events:
            return
        self.number(cursor, events, [part for prepared in batches for part in prepared.chain])
        self.insert_events.load_values(cursor, events)
        targets = [values for prepared in batches for values in prepared.targets]
        if targets:
            self.insert_targets.load_values(cursor, targets)
        self.insert_terms.execute(
            cursor, sorted({term for prepared in batches for term in prepared.terms})
        )
        self.widen_hours.execute(
            cursor, self.spans(events, [hour for prepared in batches for hour in prepared.hours])
        )

    def spans(self, events, hours):
        """The ``event_hours`` rows of numbered events: each (organization, hour)'s
        lowest and highest seq, in key order."""
        found = {}
        for values, hour in zip(events, hours, strict=True):
            key, seq = (values[self.org_index], hour), values[self.seq_index]
            span = found.get(key)
            found[key] = (seq, seq) if span is None else (min(span[0], seq), max(span[1], seq))
        return [(*key, *span) for key, span in sorted(found.items())]

    def number(self, cursor, events, chain_parts):
        """Fill in each event's ``seq`` and ``hash`` (``chain.number_all``: under each
        organization's chain lock, in insert order)."""
        org_ids = [values[self.org_index] for values in events]
        numbered = chain.number_all(cursor, self.dialect, org_ids, chain_parts)
        for values, (seq, digest) in zip(events, numbered, strict=True):
            values[self.seq_index], values[self.hash_index] = seq, digest


@functools.lru_cache(maxsize=8)
def appender_for(dialect):
    """The ``Appender`` of a SQLAlchemy dialect (an engine has one for its lifetime)."""
    return Appender(dialect)


def append_rows(connection, rows, targets):
    """Append events-table rows (``event_row``) and their targets' rows in the
    transaction of a SQLAlchemy connection (``db.session.connection()``); the caller
    commits, on SQLite in a transaction that may write."""
    appender = appender_for(connection.dialect)
    prepared = appender.prepare(rows, targets)
    with chain.driver_cursor(connection) as (cursor, _dialect):
        appender.append(cursor, [prepared])


class BulkInsert:
    """A multi-row INSERT straight to the driver, many rows per statement (or, for
    ``load`` on PostgreSQL, a COPY).

    SQLAlchemy's per-row parameter handling cost more than SQLite's own work for big
    batches; this builds each statement once and converts only the columns whose type
    needs it (timestamps), with the same converters SQLAlchemy would use.

    Many rows per statement, not ``executemany``: the driver releases the GIL for every
    statement it steps, and the writer thread then waits for request threads to hand it
    back (up to the switch interval each time). One statement per ``ROWS_PER_STATEMENT``
    rows keeps a 1,000-event transaction to a handful of hand-overs instead of thousands.
    """

    ROWS_PER_STATEMENT = 500  # x 15 columns: within SQLite's 32,766 bound parameters

    def __init__(self, table, dialect, suffix=""):
        generated = table.autoincrement_column  # the database numbers it
        self.columns = [column for column in table.columns if column is not generated]
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        names = ", ".join(column.name for column in self.columns)
        self.row_markers = f"({', '.join(marker for _ in self.columns)})"
        # Names come from the table definition; every value is bound.
        self.head = f"INSERT INTO {table.name} ({names}) VALUES "  # noqa: S608
        self.suffix = suffix
        self.copy_sql = None
        if dialect.name == "postgresql" and not suffix:
            self.copy_sql = f"COPY {table.name} ({names}) FROM STDIN"
        self.converters = [
            (index, column.type.dialect_impl(dialect).bind_processor(dialect))
            for index, column in enumerate(self.columns)
        ]
        self.converters = [(index, convert) for index, convert in self.converters if convert]
        self.names = [column.name for column in self.columns]
        pick = operator.itemgetter(*self.names)
        self.pick = pick if len(self.names) > 1 else lambda row: (pick(row),)
        self.statements = {}  # rows -> SQL

    def sql(self, count):
        """The statement for ``count`` rows."""
        statement = self.statements.get(count)
        if statement is None:
            markers = ", ".join(self.row_markers for _ in range(count))
            statement = self.statements[count] = f"{self.head}{markers} {self.suffix}"
        return statement

    def __call__(self, cursor, rows):
        """Insert dicts (keyed by column name) through a driver cursor; every row the
        statements return."""
        return self.execute(cursor, self.values(rows))

    def execute(self, cursor, rows):
        """Insert rows of driver values in column order (``values``; lists or tuples);
        every row the statements return."""
        returned = []
        for start in range(0, len(rows), self.ROWS_PER_STATEMENT):
            chunk = rows[start : start + self.ROWS_PER_STATEMENT]
            values = list(itertools.chain.from_iterable(chunk))
            cursor.execute(self.sql(len(chunk)), values)
            if cursor.description is not None:
                returned.extend(tuple(row) for row in cursor.fetchall())
        return returned

    def load(self, cursor, rows):
        """Insert dicts (keyed by column name) through a driver cursor, returning nothing:
        ``COPY ... FROM STDIN`` on PostgreSQL, the multi-row INSERT elsewhere.

        On PostgreSQL, COPY loads a batch far faster than the INSERT statements, which
        bind 7,500 parameters each and are then planned (``python -m bench.stages
        --database-url ...``; figures: docs/performance.md); the values and their
        conversions are the same.
        """
        self.load_values(cursor, self.values(rows))

    def load_values(self, cursor, rows):
        """``load`` for rows of driver values in column order (``values``)."""
        if self.copy_sql is None:
            self.execute(cursor, rows)
            return
        with cursor.copy(self.copy_sql) as copy:
            for values in rows:
                copy.write_row(values)

    def values(self, rows):
        """Each row's values in column order, converted for the driver.

        The same object met again in a column is converted once: a job's ``received_at``
        is every row's. Converting every timestamp afresh was a large share of the writer
        process's time for 1,000-event batches (figures: docs/performance.md). (By
        identity, not equality: two equal datetimes may still differ, e.g. in ``fold``.)
        """
        converted = {}  # (column index, id of the value) -> its driver value
        result = []
        for row in rows:
            values = list(self.pick(row))
            for index, convert in self.converters:
                key = (index, id(values[index]))  # the rows keep every value alive
                if key in converted:
                    values[index] = converted[key]
                else:
                    values[index] = converted[key] = convert(values[index])
            result.append(values)
        return result
