"""The event writer: one thread per server process that stores accepted events with
group commit.

Request threads validate events, hand them to the writer and wait. The writer takes
every job waiting in its queue, stores them all in one transaction (one fsync for many
requests) and wakes each request only after the commit: a 2xx is only ever sent for
events that are durably stored.

Idempotency keys are claimed with ``INSERT ... ON CONFLICT DO NOTHING`` on the unique
(organization, key) constraint, in the same transaction as the events: a request whose
key is already taken stores nothing and replays the first answer.
"""

import itertools
import json
import operator
import queue
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import NamedTuple

from app.events import search
from app.events.models import Event, EventTarget, IdempotencyRecord
from app.integrity import chain
from app.timestamps import utcnow

MAX_EVENTS_PER_TRANSACTION = 5000
IDEMPOTENCY_WINDOW = timedelta(hours=24)
LOCK_WAIT_SECONDS = 15
SUBMIT_TIMEOUT_SECONDS = 60
# SQLite's page cache for the writer's connection (default: 2 MiB). Each event adds
# entries to ten B-trees; with the default cache their pages were read back from the
# operating system again and again. 64 MiB took the writer process's kernel time from
# ~3.1 to ~2.2 s in 10 s of 1,000-event batches, and make bench's batch figure from
# 13,260-15,190 to 17,710-17,870 events/s, on a fresh database.
CACHE_KIB = 64 * 1024
EVENTS = Event.__table__
TARGETS = EventTarget.__table__
RECORDS = IdempotencyRecord.__table__


class Prepared(NamedTuple):
    """A job's rows as the writer's statements take them (``EventWriter.prepare``)."""

    events: list  # each event's values in column order, seq and hash still None
    chain: list  # each event's document_parts (head, tail) for the hash chain
    targets: list  # each target's values in column order
    terms: list  # the distinct search_terms rows of the events (tuples of values)


@dataclass
class Job:
    """One request's events, waiting to be stored."""

    org_id: str
    rows: list  # events-table rows (dicts; none once prepared in another process)
    targets: list  # event_targets rows of all the events
    idempotency: dict | None = None  # the record to claim, if the request had a key
    prepared: Prepared | None = None  # set by EventWriter.prepare
    stored: bool = False  # False after completion means: the key was taken
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def size(self):
        """How many events the job holds."""
        return len(self.prepared.events) if self.prepared is not None else len(self.rows)


class EventWriter:
    """Stores jobs from any thread through one connection, many jobs per transaction."""

    def __init__(self, engine):
        self.engine = engine
        self.queue = queue.SimpleQueue()
        self.thread = None
        self.start_lock = threading.Lock()
        self.insert_events = BulkInsert(EVENTS, engine.dialect)
        self.insert_targets = BulkInsert(TARGETS, engine.dialect)
        self.insert_terms = BulkInsert(
            search.TERMS, engine.dialect, suffix="ON CONFLICT (organization_id, term) DO NOTHING"
        )
        # The same statement on SQLite and PostgreSQL.
        self.claim = BulkInsert(
            RECORDS,
            engine.dialect,
            suffix="ON CONFLICT (organization_id, key) DO NOTHING RETURNING organization_id, key",
        )
        self.seq_index = self.insert_events.names.index("seq")
        self.hash_index = self.insert_events.names.index("hash")
        self.org_index = self.insert_events.names.index("organization_id")
        self.dialect = engine.dialect.name
        # The driver's value of a timestamp column as the models read it (an aware datetime).
        self.read_time = RECORDS.c.created_at.type.dialect_impl(engine.dialect).result_processor(
            engine.dialect, None
        )
        self.connection = None  # the writer thread's own driver connection

    def prepare(self, job):
        """Turn the job's rows into the statements' values (``Prepared``), in the calling
        thread: the request's, before it hands the job over.

        All of this is per event and needs no lock, so none of it waits in the writer's
        single line: converting values for the driver, and the canonical JSON of each
        event's chain document around its sequence number. Under the lock, the writer
        only numbers and hashes. (Preparing 1,000-event batches in the writer process
        kept it busy ~25% longer per batch.)
        """
        if job.prepared is None:
            rows, targets = job.rows, job.targets
            chain_parts = [chain.row_parts(row) for row in rows]
            for row in rows:
                row["seq"] = row["hash"] = None  # set by the writer under the chain lock
            term_rows = search.term_rows(rows, targets)
            terms = [tuple(values) for values in self.insert_terms.values(term_rows)]
            job.prepared = Prepared(
                self.insert_events.values(rows),
                chain_parts,
                self.insert_targets.values(targets),
                terms,
            )
        return job

    def submit(self, job):
        """Queue a job and wait until it is committed (or has failed)."""
        self.prepare(job)
        self._start()
        self.queue.put(job)
        if not job.done.wait(SUBMIT_TIMEOUT_SECONDS):
            raise TimeoutError("the event writer did not answer in time")
        if job.error is not None:
            raise job.error
        return job

    def _start(self):
        if self.thread is not None and self.thread.is_alive():
            return
        with self.start_lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
                self.thread.start()

    def _take(self):
        """The next job, and every other job already waiting (up to the size limit)."""
        jobs = [self.queue.get()]
        size = 0
        while jobs[-1] is not None and size < MAX_EVENTS_PER_TRANSACTION:
            size += jobs[-1].size
            try:
                jobs.append(self.queue.get_nowait())
            except queue.Empty:
                break
        return jobs

    def stop(self):
        """Let the thread finish once the queue is empty."""
        if self.thread is not None and self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()
        if self.connection is not None:
            # Not back to the pool: the writer's connection has no SQLite busy timeout.
            self.connection.invalidate()
            self.connection = None

    def _run(self):
        while True:
            jobs = self._take()
            stopping = jobs[-1] is None  # stop() was called
            if stopping:
                jobs.pop()
            try:
                self._store(jobs)
            except BaseException as error:  # never leave a request waiting
                for job in jobs:
                    job.error = job.error or error
                    job.done.set()
                if not isinstance(error, Exception):
                    raise
            if stopping:
                return

    def _store(self, jobs):
        """Write the jobs, then wake their requests; a failure is reported to each request."""
        try:
            if jobs:
                self._write(jobs)
        except Exception as error:
            if len(jobs) == 1 or self._fails_every_job(error):
                for job in jobs:
                    job.error = error
            else:
                self._write_one_by_one(jobs)
        for job in jobs:
            job.done.set()

    def _fails_every_job(self, error):
        """Whether the error is the database's, not one job's (a lock wait that timed
        out, a lost connection): storing the jobs one by one would only repeat it, each
        time after the same wait."""
        dbapi = self.engine.dialect.dbapi
        return isinstance(error, dbapi.OperationalError | dbapi.InterfaceError)

    def _write_one_by_one(self, jobs):
        """After a failed group, store each job alone, so one bad job fails only itself."""
        for job in jobs:
            try:
                self._write([job])
            except Exception as error:
                job.error = error

    def _connect(self):
        """The writer's own driver connection (from the engine's pool, with its settings),
        opened on first use and after a failure.

        The writer talks to the driver directly, without SQLAlchemy's Connection: its
        transaction has the same few statements every time, and SQLAlchemy's work per
        statement cost more than SQLite's for one-event transactions.
        """
        if self.connection is None:
            self.connection = self.engine.raw_connection()
            if self.dialect == "sqlite":
                # Lock waits are handled by _begin; PRAGMAs run outside any transaction.
                self.connection.driver_connection.execute("PRAGMA busy_timeout=0")
                self.connection.driver_connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return self.connection

    def _write(self, jobs):
        """Store the jobs in one transaction."""
        connection = self._connect()
        try:
            cursor = connection.cursor()
            try:
                self._begin(cursor)
                self._insert(cursor, jobs)
            finally:
                cursor.close()
            connection.commit()
        except Exception:
            self.connection = None
            connection.invalidate()  # rolls back and closes: never back to the pool
            raise

    def _insert(self, cursor, jobs):
        """The statements of one transaction."""
        self._claim_keys(cursor, jobs)
        accepted = [self.prepare(job).prepared for job in jobs if job.stored]
        events = [values for prepared in accepted for values in prepared.events]
        if not events:
            return
        self._number(cursor, events, [parts for prepared in accepted for parts in prepared.chain])
        self.insert_events.load_values(cursor, events)
        targets = [values for prepared in accepted for values in prepared.targets]
        if targets:
            self.insert_targets.load_values(cursor, targets)
        self.insert_terms.execute(
            cursor, sorted({term for prepared in accepted for term in prepared.terms})
        )

    def _number(self, cursor, events, chain_parts):
        """Fill in each event's ``seq`` and ``hash`` (``chain.number_all``: under each
        organization's chain lock, in insert order)."""
        org_ids = [values[self.org_index] for values in events]
        numbered = chain.number_all(cursor, self.dialect, org_ids, chain_parts)
        for values, (seq, digest) in zip(events, numbered, strict=True):
            values[self.seq_index], values[self.hash_index] = seq, digest

    def _begin(self, cursor):
        """Begin a write transaction (SQLite), waiting for the write lock in short steps.

        SQLite's own busy handler sleeps 1, 2, 5, 10... ms between attempts, so two
        writers taking turns would each idle for milliseconds. The writer's connection
        has no busy timeout and polls every ~0.2 ms instead, for up to 15 s. (PostgreSQL's
        driver begins the transaction with the first statement.)
        """
        if self.dialect != "sqlite":
            return
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(random.uniform(0.0001, 0.0003))

    def _claim_keys(self, cursor, jobs):
        """Claim the jobs' idempotency keys in one statement; set each job's ``stored``.

        A job whose key is taken (by an earlier request, or by an earlier job of this
        same transaction) stores nothing and replays the first answer.
        """
        first_with_key = {}
        for job in jobs:
            if job.idempotency is None:
                job.stored = True
                continue
            claim = (job.org_id, job.idempotency["key"])
            job.stored = claim not in first_with_key
            first_with_key.setdefault(claim, job)
        if not first_with_key:
            return
        records = [job.idempotency for job in first_with_key.values()]
        claimed = {tuple(row) for row in self.claim(cursor, records)}
        for claim, job in first_with_key.items():
            if claim not in claimed:
                job.stored = self._reclaim_expired(cursor, job.idempotency)

    def _reclaim_expired(self, cursor, record):
        """Claim a key whose record is past the 24-hour window; False if it is live."""
        marker = "?" if self.dialect == "sqlite" else "%s"
        cursor.execute(
            f"SELECT id, created_at FROM {RECORDS.name} "  # noqa: S608 - fixed text, bound values
            f"WHERE organization_id = {marker} AND key = {marker}",
            (record["organization_id"], record["key"]),
        )
        existing = cursor.fetchone()
        if existing is None:
            return False
        created = self.read_time(existing[1]) if self.read_time else existing[1]
        if utcnow() - created <= IDEMPOTENCY_WINDOW:
            return False
        cursor.execute(f"DELETE FROM {RECORDS.name} WHERE id = {marker}", (existing[0],))  # noqa: S608
        return bool(self.claim(cursor, [record]))


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
        self.columns = [column for column in table.columns if not column.primary_key]
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

        On PostgreSQL, 1,000-event batches took 88 µs an event through the INSERT
        statements (binding 7,500 parameters each, then planning them) and 23 µs through
        COPY (``python -m bench.stages --database-url ...``); the values and their
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
        is every row's. Converting every timestamp afresh was a quarter of the writer
        process's time for 1,000-event batches. (By identity, not equality: two equal
        datetimes may still differ, e.g. in ``fold``.)
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


def idempotency_record(org_id, key, fingerprint, answer):
    """The row that claims an idempotency key and remembers the answer."""
    return {
        "organization_id": org_id,
        "key": key,
        "request_hash": fingerprint,
        "status_code": 200,
        "response_body": json.dumps(answer, separators=(",", ":")),
        "created_at": utcnow(),
    }
