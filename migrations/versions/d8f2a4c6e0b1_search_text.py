"""free text: one search_text column per event, trigram-indexed on PostgreSQL

Revision ID: d8f2a4c6e0b1
Revises: b5d7e9f1a3c2
Create Date: 2026-11-26 07:40:00

Free text matched the action and actor name on events and, through a subquery per row,
the names on event_targets; PostgreSQL evaluated that subquery for every row it walked.
``search_text`` holds all three, separated by U+001F (app/events/search.py), so a filter
tests one column. One index on it replaces the two before: on PostgreSQL a trigram
index, on SQLite one FTS5 table (and its triggers) instead of one for events and one for
targets, so each stored event costs one full-text insert instead of one per target.
"""

import sqlalchemy as sa
from alembic import op

revision = "d8f2a4c6e0b1"
down_revision = "b5d7e9f1a3c2"
branch_labels = None
depends_on = None

# action, actor name, then every non-empty target name in position order, each after a
# U+001F: exactly app/events/search.py's haystack, which verification compares with.
BACKFILL = {
    "postgresql": """
        UPDATE events SET search_text = events.action || chr(31)
            || coalesce(events.actor_name, '')
            || coalesce((SELECT string_agg(chr(31) || t.name, '' ORDER BY t.position)
                         FROM event_targets t
                         WHERE t.event_id = events.id AND t.name <> ''), '')
    """,
    "sqlite": """
        UPDATE events SET search_text = action || char(31) || coalesce(actor_name, '')
            || coalesce((SELECT group_concat(char(31) || name, '')
                         FROM (SELECT t.name FROM event_targets t
                               WHERE t.event_id = events.id AND t.name <> ''
                               ORDER BY t.position)), '')
    """,
}


SQLITE_SEARCH = [
    "CREATE VIRTUAL TABLE events_fts USING fts5("
    "search_text, content='events', content_rowid='pk', tokenize='trigram')",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN "
    "INSERT INTO events_fts (rowid, search_text) VALUES (new.pk, new.search_text); END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN "
    "INSERT INTO events_fts (events_fts, rowid, search_text) "
    "VALUES ('delete', old.pk, old.search_text); END",
    "INSERT INTO events_fts (events_fts) VALUES ('rebuild')",
]
SQLITE_OLD_SEARCH = [
    "CREATE VIRTUAL TABLE events_fts USING fts5("
    "action, actor_name, content='events', content_rowid='pk', tokenize='trigram')",
    "CREATE VIRTUAL TABLE event_targets_fts USING fts5("
    "name, content='event_targets', content_rowid='pk', tokenize='trigram')",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN "
    "INSERT INTO events_fts (rowid, action, actor_name) "
    "VALUES (new.pk, new.action, new.actor_name); END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN "
    "INSERT INTO events_fts (events_fts, rowid, action, actor_name) "
    "VALUES ('delete', old.pk, old.action, old.actor_name); END",
    "CREATE TRIGGER event_targets_fts_insert AFTER INSERT ON event_targets "
    "WHEN new.name IS NOT NULL BEGIN "
    "INSERT INTO event_targets_fts (rowid, name) VALUES (new.pk, new.name); END",
    "CREATE TRIGGER event_targets_fts_delete AFTER DELETE ON event_targets "
    "WHEN old.name IS NOT NULL BEGIN "
    "INSERT INTO event_targets_fts (event_targets_fts, rowid, name) "
    "VALUES ('delete', old.pk, old.name); END",
    "INSERT INTO events_fts (events_fts) VALUES ('rebuild')",
    "INSERT INTO event_targets_fts (event_targets_fts) VALUES ('rebuild')",
]


def drop_sqlite_search():
    """The full-text triggers and tables, whichever generation exists."""
    for name in (
        "events_fts_insert",
        "events_fts_delete",
        "event_targets_fts_insert",
        "event_targets_fts_delete",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS events_fts")
    op.execute("DROP TABLE IF EXISTS event_targets_fts")


def refresh_sqlite_statistics():
    """Re-analyze events where the planner has statistics from before this revision.

    Partial statistics mislead SQLite: the previous revision's unique (organization, seq)
    index has none, so the planner took it for selective and sorted whole organizations
    instead of walking (organization, occurred_at). A database never analyzed keeps
    SQLite's default guesses, which already prefer the right index.
    """
    bind = op.get_bind()
    has_statistics = (
        bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
        and bind.exec_driver_sql("SELECT 1 FROM sqlite_stat1 WHERE tbl = 'events' LIMIT 1").first()
    )
    if has_statistics:
        op.execute("ANALYZE events")


def upgrade():
    dialect = op.get_bind().dialect.name
    # Not a batch operation: recreating events on SQLite would drop the FTS5 triggers.
    op.add_column("events", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.execute(BACKFILL[dialect])
    if dialect == "sqlite":
        drop_sqlite_search()
        for statement in SQLITE_SEARCH:
            op.execute(statement)
        refresh_sqlite_statistics()
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_events_search_trgm")
        op.execute("DROP INDEX IF EXISTS ix_event_targets_name_trgm")
        op.execute(
            "CREATE INDEX ix_events_search_text_trgm ON events USING gin (search_text gin_trgm_ops)"
        )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_events_search_text_trgm")
        op.execute(
            "CREATE INDEX ix_events_search_trgm ON events USING gin "
            "((action || ' ' || coalesce(actor_name, '')) gin_trgm_ops)"
        )
        op.execute(
            "CREATE INDEX ix_event_targets_name_trgm ON event_targets USING gin (name gin_trgm_ops)"
        )
    if dialect == "sqlite":
        drop_sqlite_search()
    op.drop_column("events", "search_text")
    if dialect == "sqlite":
        for statement in SQLITE_OLD_SEARCH:
            op.execute(statement)
