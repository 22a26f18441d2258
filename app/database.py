"""Engine settings per database."""

from sqlalchemy import event


def configure_engine(app):
    """SQLite: enforce foreign keys, write-ahead logging, and wait for locks instead of failing."""
    with app.app_context():
        from app.extensions import db

        engine = db.engine
        if engine.dialect.name != "sqlite":
            return

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()
