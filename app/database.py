"""Engine settings per database."""

from contextlib import contextmanager

from flask import g, has_app_context, has_request_context, request
from sqlalchemy import event

READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}


def wants_write_lock():
    """Whether a new transaction may write.

    As the code declared with ``reading()``/``writing()`` (in a request, or in a
    background thread's app context); otherwise always outside requests (commands), and
    in a request by method: anything but GET, HEAD and OPTIONS.
    """
    declared = g.get("sqlite_write_lock") if has_app_context() else None
    if declared is not None:
        return declared
    if not has_request_context():
        return True
    return request.method not in READ_ONLY_METHODS


def reading():
    """Declare that this request's next transactions only read (until ``writing()``)."""
    g.sqlite_write_lock = False


@contextmanager
def reading_only():
    """Transactions begun inside only read, then as declared before (long walks over
    events, in commands and background threads, that must not hold SQLite's write lock)."""
    declared = g.get("sqlite_write_lock")
    g.sqlite_write_lock = False
    try:
        yield
    finally:
        g.sqlite_write_lock = declared


def writing():
    """End the current (read) transaction; the next one may write.

    Keeping reads out of the write transaction keeps SQLite's single write lock held
    for as short a time as possible.
    """
    from app.extensions import db

    db.session.commit()
    g.sqlite_write_lock = True


def snapshot():
    """End the current transaction; the next one reads the database as of one moment.

    SQLite's transactions always do (from their first read, in WAL mode). PostgreSQL's
    default, READ COMMITTED, lets each statement see what committed after the one before
    it; ``REPEATABLE READ`` gives the whole transaction one snapshot.
    """
    from app.extensions import db

    db.session.commit()
    if db.engine.dialect.name != "sqlite":
        db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


@contextmanager
def read_only_connection():
    """A connection of its own in a transaction that only reads: one consistent snapshot.

    For long reads outside requests (an export streams for seconds or minutes): on SQLite
    a plain ``BEGIN``, so SQLite's single write lock stays free for the event writer; on
    PostgreSQL ``REPEATABLE READ``, so every statement sees the same events.
    """
    from app.extensions import db

    options = {"isolation_level": "REPEATABLE READ"} if db.engine.dialect.name != "sqlite" else {}
    with db.engine.connect().execution_options(**options) as connection:
        with reading_only():
            connection.begin()
        yield connection


def configure_engine(app):
    """PostgreSQL: no JIT. SQLite: foreign keys, write-ahead logging, waiting for locks,
    and locking early.

    In WAL mode a transaction that read first and then writes fails at once (no waiting)
    if another connection wrote in between. So transactions that may write start with
    ``BEGIN IMMEDIATE``, which takes the write lock up front and waits for it
    (``busy_timeout``); read-only requests use a plain ``BEGIN`` and never block writers.
    """
    with app.app_context():
        from app.extensions import db

        engine = db.engine
        if engine.dialect.name == "postgresql":

            @event.listens_for(engine, "connect")
            def _postgresql_connect(dbapi_connection, _record):
                # No JIT: compiling a viewer query took longer (~50 ms) than running it,
                # and every query here is a short index walk that JIT cannot speed up.
                # (A SET, not a startup option: those would replace any the operator
                # gave in DATABASE_URL, and PgBouncer refuses them.)
                dbapi_connection.execute("SET jit = off")
                dbapi_connection.commit()

        if engine.dialect.name != "sqlite":
            return

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE" if wants_write_lock() else "BEGIN")
