"""The unit of work, and engine settings per database.

Every read and write of the application's session goes through one of two doors:

- ``writes()``: one transaction that may write. It commits when the block (or the
  decorated view) ends normally, and rolls back on an exception or, for a view, on a
  response whose status is 400 or more. On SQLite it starts with ``BEGIN IMMEDIATE``.
- ``reads()``: one transaction that only reads, enforced by the database itself
  (SQLite's ``PRAGMA query_only``, PostgreSQL's ``READ ONLY`` transactions). With
  ``snapshot=True`` every statement in it sees the database as of one moment.

Both work as context managers and as decorators, and nest: ``reads()`` inside
``writes()`` joins the write; ``writes()`` inside ``reads()`` is a mistake and raises.

In a request, a transaction begun outside both (the obvious way: a query in a view) is
read-only, so a view that was not declared to write cannot. Services flush and never
commit: only a unit commits. Outside requests (commands, migrations, test setup) an
undeclared transaction may write, but nothing in ``app/`` commits it except a unit.
"""

import sqlite3
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

READS, WRITES = "reads", "writes"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
UNIT_OPTION = "auditlog_unit"  # an execution option: a connection of its own declares its kind

_unit = ContextVar("auditlog_unit", default=None)


class OutsideUnitOfWork(RuntimeError):
    """Changes were made to the session outside ``writes()``."""


class Unit:
    """One transaction on the session, of one kind; a context manager and a decorator."""

    def __init__(self, kind, snapshot=False):
        self.kind = kind
        self.snapshot = snapshot
        self.token = None
        self.refused = False

    def __enter__(self):
        from app.extensions import db

        outer = _unit.get()
        if outer == WRITES or outer == self.kind:
            return self  # joins the unit around it
        if outer == READS:
            raise OutsideUnitOfWork("writes() inside reads(): declare the write outermost.")
        if db.session.registry.has():  # no session is made just to ask
            session = db.session()
            end_undeclared_transaction(session)
            if self.kind == WRITES:
                # Objects read before (expire_on_commit is off) are read again inside the
                # write, so a change is decided on what the database holds now.
                session.expire_all()
        self.token = _unit.set(self.kind)
        if self.snapshot and db.engine.dialect.name != "sqlite":
            # SQLite's transactions always read one snapshot (in WAL mode); PostgreSQL's
            # default, READ COMMITTED, lets each statement see later commits.
            try:
                db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            except BaseException:
                _unit.reset(self.token)  # __exit__ is not called when __enter__ raises
                self.token = None
                raise
        return self

    def __exit__(self, exc_type, exc, traceback):
        if self.token is None:
            return False
        from app.extensions import db

        try:
            if db.session.registry.has():
                session = db.session()
                session.info.pop("flushed_outside_unit", None)
                if exc_type is None and not self.refused:
                    try:
                        session.commit()  # a read commits nothing; the database refuses a write
                    except BaseException:
                        session.rollback()
                        raise
                else:
                    session.rollback()
        finally:
            _unit.reset(self.token)
            self.token = None
        return False

    def refuse(self):
        """Roll back instead of committing when the unit ends (a refused request)."""
        self.refused = True

    def __call__(self, view):
        """Run ``view`` in a unit of this kind; a response of status 400+ rolls back.

        A view that shows its form on GET and saves it on POST writes only on POST: GET,
        HEAD and OPTIONS run as undeclared, read-only requests (no write lock held while
        a page renders).
        """

        @wraps(view)
        def in_unit(*args, **kwargs):
            if self.kind == WRITES and request.method in SAFE_METHODS:
                return view(*args, **kwargs)
            with Unit(self.kind, self.snapshot) as unit:
                result = view(*args, **kwargs)
                if status_of(result) >= 400:
                    unit.refuse()
            return result

        return in_unit


def writes(view=None):
    """A transaction that may write (``with writes():`` or ``@writes`` on a view)."""
    unit = Unit(WRITES)
    return unit(view) if view is not None else unit


def reads(view=None, snapshot=False):
    """A transaction that only reads (``with reads():``, ``@reads``, ``reads(snapshot=True)``)."""
    unit = Unit(READS, snapshot=snapshot)
    return unit(view) if view is not None else unit


def read_afresh():
    """End the current read (in ``reads()`` or undeclared), so that the next statement
    sees what committed since; inside ``writes()`` that would commit, so it raises."""
    from app.extensions import db

    kind = _unit.get()
    if kind == WRITES:
        raise OutsideUnitOfWork("read_afresh() inside writes() would commit the write.")
    if kind == READS:
        db.session.commit()
    else:
        end_undeclared_transaction(db.session())


def status_of(result):
    """The HTTP status of what a view returned (a response, a tuple, or a body)."""
    if isinstance(result, tuple):
        return next((item for item in result[1:] if isinstance(item, int)), 200)
    return getattr(result, "status_code", 200)


def end_undeclared_transaction(session):
    """End the transaction a unit's first statement would otherwise join (e.g. the sign-in
    lookup before a view); it must hold no changes, which only ``writes()`` may commit."""
    if not session.in_transaction():
        return
    if session.new or session.dirty or session.deleted or session.info.get("flushed_outside_unit"):
        session.rollback()
        session.info.pop("flushed_outside_unit", None)
        raise OutsideUnitOfWork("The session holds changes made outside database.writes().")
    session.commit()


def current_kind(connection=None):
    """The kind of a transaction beginning now: as declared (by the connection's execution
    options, else the unit around it), else read-only in a request and writable outside."""
    declared = connection.get_execution_options().get(UNIT_OPTION) if connection else None
    declared = declared or _unit.get()
    if declared is not None:
        return declared
    return READS if has_request_context() else WRITES


def writable(raw_connection):
    """A driver connection from the pool (``engine.raw_connection()``) that may write, for
    code that talks to the driver directly (the event writer): the read-only mode that the
    begin events set stays on a connection after its transaction."""
    driver = raw_connection.driver_connection
    if isinstance(driver, sqlite3.Connection):
        driver.execute("PRAGMA query_only=0")
        raw_connection.info["query_only"] = False
    elif getattr(driver, "read_only", None):
        driver.read_only = None
    return raw_connection


@contextmanager
def write_connection():
    """A connection of its own in a transaction that may write, committed when the block
    ends (e.g. a job's progress, which must not wait for the job's own transaction)."""
    from app.extensions import db

    with (
        db.engine.connect().execution_options(**{UNIT_OPTION: WRITES}) as connection,
        connection.begin(),
    ):
        yield connection


@contextmanager
def read_only_connection():
    """A connection of its own in a transaction that only reads: one consistent snapshot.

    For long reads (an export streams for seconds or minutes) that must not hold the
    session: on SQLite a plain ``BEGIN``, so SQLite's single write lock stays free for
    the event writer; on PostgreSQL ``REPEATABLE READ``, so every statement sees the same
    events.
    """
    from app.extensions import db

    options = {UNIT_OPTION: READS}
    if db.engine.dialect.name != "sqlite":
        options["isolation_level"] = "REPEATABLE READ"
    with db.engine.connect().execution_options(**options) as connection:
        connection.begin()
        yield connection


@event.listens_for(Session, "after_flush")
def _after_flush(session, _context):
    """Mark a session that flushed outside ``writes()``, so that no unit commits it."""
    if _unit.get() != WRITES:
        session.info["flushed_outside_unit"] = True


def configure_engine(app):
    """Read-only transactions in the database itself; PostgreSQL: no JIT. SQLite: foreign
    keys, write-ahead logging, waiting for locks, and locking early.

    In WAL mode a SQLite transaction that read first and then writes fails at once (no
    waiting) if another connection wrote in between. So transactions that may write
    start with ``BEGIN IMMEDIATE``, which takes the write lock up front and waits for it
    (``busy_timeout``); read-only ones use a plain ``BEGIN`` and never block writers.
    """
    with app.app_context():
        from app.extensions import db

        engine = db.engine
        if engine.dialect.name == "postgresql":

            @event.listens_for(engine, "connect")
            def _postgresql_connect(dbapi_connection, _record):
                # No JIT: compiling a viewer query took longer than running it, and every
                # query here is a short index walk that JIT cannot speed up. (A SET, not a
                # startup option: those would replace any the operator gave in
                # DATABASE_URL, and PgBouncer refuses them.)
                dbapi_connection.execute("SET jit = off")
                dbapi_connection.commit()

            @event.listens_for(engine, "begin")
            def _postgresql_begin(connection):
                # psycopg sends the mode with its BEGIN: no extra round trip.
                dbapi_connection = connection.connection.dbapi_connection
                read_only = True if current_kind(connection) == READS else None
                if dbapi_connection.read_only != read_only:
                    dbapi_connection.read_only = read_only

            return
        if engine.dialect.name != "sqlite":
            return

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, record):
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()
            record.info["query_only"] = False

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            reading = current_kind(connection) == READS
            info = connection.connection.info
            if info.get("query_only") != reading:
                connection.exec_driver_sql(f"PRAGMA query_only={int(reading)}")
                info["query_only"] = reading
            connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")
