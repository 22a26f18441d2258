"""Engine settings per database."""

from flask import g, has_request_context, request
from sqlalchemy import event

READ_ONLY_METHODS = {"GET", "HEAD", "OPTIONS"}


def wants_write_lock():
    """Whether a new transaction may write.

    Outside requests (commands), always; in a request, as the view declared with
    ``reading()``/``writing()``, else by method: anything but GET, HEAD and OPTIONS.
    """
    if not has_request_context():
        return True
    declared = g.get("sqlite_write_lock")
    if declared is not None:
        return declared
    return request.method not in READ_ONLY_METHODS


def reading():
    """Declare that this request's next transactions only read (until ``writing()``)."""
    g.sqlite_write_lock = False


def writing():
    """End the current (read) transaction; the next one may write.

    Keeping reads out of the write transaction keeps SQLite's single write lock held
    for as short a time as possible.
    """
    from app.extensions import db

    db.session.commit()
    g.sqlite_write_lock = True


def configure_engine(app):
    """SQLite: foreign keys, write-ahead logging, waiting for locks, and locking early.

    In WAL mode a transaction that read first and then writes fails at once (no waiting)
    if another connection wrote in between. So transactions that may write start with
    ``BEGIN IMMEDIATE``, which takes the write lock up front and waits for it
    (``busy_timeout``); read-only requests use a plain ``BEGIN`` and never block writers.
    """
    with app.app_context():
        from app.extensions import db

        engine = db.engine
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
