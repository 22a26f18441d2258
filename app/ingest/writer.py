"""The event writer: stores the API's accepted events with group commit.

Two implementations of one interface (``Writer``: ``submit`` and ``stop``): this
module's ``EventWriter``, a thread in the server process, and ``RemoteWriter``
(app/ingest/process.py), the door to the writer process that gunicorn's master runs,
which itself stores through an ``EventWriter``. docs/ingestion.md follows one request
through both.

Request threads validate events, hand them to the writer and wait. The writer takes
every job waiting in its queue, stores them all in one transaction (one fsync for many
requests) and wakes each request only after the commit: a 2xx is only ever sent for
events that are durably stored.

Idempotency keys are claimed with ``INSERT ... ON CONFLICT DO NOTHING`` on the unique
(organization, key) constraint, in the same transaction as the events: a request whose
key is already taken stores nothing and replays the first answer.
"""

import json
import queue
import random
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from app import database
from app.ingest.models import IDEMPOTENCY_WINDOW, IdempotencyRecord
from app.ledger.append import MAX_EVENTS_PER_TRANSACTION, BulkInsert, Prepared, appender_for
from app.timestamps import utcnow

LOCK_WAIT_SECONDS = 15
SUBMIT_TIMEOUT_SECONDS = 60
# SQLite's page cache for the writer's connection (default: 2 MiB). Each event adds
# entries to ten B-trees; with the default cache their pages were read back from the
# operating system again and again (docs/performance.md).
CACHE_KIB = 64 * 1024
RECORDS = IdempotencyRecord.__table__


class Writer(Protocol):
    """What the API stores events through (``app.ingest.services.event_writer``)."""

    def submit(self, job):
        """Store the job; return it once committed (``job.stored`` False: its
        idempotency key was taken, nothing stored). Raises if it was not stored."""

    def stop(self):
        """Finish what was submitted, then release threads and connections."""


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
    """A ``Writer``: stores jobs from any thread through one connection, many jobs per
    transaction, in a thread of its own (started by the first ``submit``)."""

    def __init__(self, engine):
        self.engine = engine
        self.queue = queue.SimpleQueue()
        self.thread = None
        self.start_lock = threading.Lock()
        self.appender = appender_for(engine.dialect)
        # The same statement on SQLite and PostgreSQL.
        self.claim = BulkInsert(
            RECORDS,
            engine.dialect,
            suffix="ON CONFLICT (organization_id, key) DO NOTHING RETURNING organization_id, key",
        )
        self.dialect = engine.dialect.name
        # The driver's value of a timestamp column as the models read it (an aware datetime).
        self.read_time = RECORDS.c.created_at.type.dialect_impl(engine.dialect).result_processor(
            engine.dialect, None
        )
        self.connection = None  # the writer thread's own driver connection
        self.commits = 0  # transactions committed

    def prepare(self, job):
        """Prepare the job's rows (``Appender.prepare``) in the calling thread: the
        request's, before it hands the job over, so that none of that per-event work
        waits in the writer's single line. (Preparing 1,000-event batches in the writer
        process kept it busy longer per batch; figures: docs/performance.md.)"""
        if job.prepared is None:
            job.prepared = self.appender.prepare(job.rows, job.targets)
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
                self.store(jobs)
            except BaseException as error:  # never leave a request waiting
                for job in jobs:
                    job.error = job.error or error
                    job.done.set()
                if not isinstance(error, Exception):
                    raise
            if stopping:
                return

    def store(self, jobs):
        """Store a group of jobs in one transaction (what the thread does with each group
        it takes; the writer process calls it for each group it receives), then wake
        their requests. A failure is reported to each request; a job that fails alone
        fails only itself."""
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

    def connect(self):
        """The writer's own driver connection (from the engine's pool, with its settings),
        opened on first use and after a failure.

        The writer talks to the driver directly, without SQLAlchemy's Connection: its
        transaction has the same few statements every time, and SQLAlchemy's work per
        statement cost more than SQLite's for one-event transactions.
        """
        if self.connection is None:
            self.connection = database.writable(self.engine.raw_connection())
            if self.dialect == "sqlite":
                # Lock waits are handled by _begin; PRAGMAs run outside any transaction.
                self.connection.driver_connection.execute("PRAGMA busy_timeout=0")
                self.connection.driver_connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        return self.connection

    def _write(self, jobs):
        """Store the jobs in one transaction."""
        connection = self.connect()
        try:
            cursor = connection.cursor()
            try:
                self._begin(cursor)
                self._insert(cursor, jobs)
            finally:
                cursor.close()
            connection.commit()
            self.commits += 1
        except Exception:
            self.connection = None
            connection.invalidate()  # rolls back and closes: never back to the pool
            raise

    def _insert(self, cursor, jobs):
        """The statements of one transaction: claim the keys, append the events."""
        self._claim_keys(cursor, jobs)
        self.appender.append(cursor, [self.prepare(job).prepared for job in jobs if job.stored])

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
