"""event viewer: time-ordered filter indexes, target occurred_at, full-text search

Revision ID: 7c1e5d2a9f30
Revises: 4b8425aafcbe
Create Date: 2026-11-26 06:00:00

Each filter of the event viewer walks an index in (occurred_at, id) order:
- events: action, actor id and actor name indexes gain ``id``, so one page reads about as
  many entries as it shows;
- event_targets gains the event's ``occurred_at`` (filled by the writer; backfilled here),
  indexed after the target id and after the type;
- free text (action, actor name, target names) is indexed by SQLite FTS5 tables with the
  trigram tokenizer, kept current by triggers in the inserting transaction, and on
  PostgreSQL by pg_trgm GIN indexes. These objects are not in the models: see
  app/events/search.py, HAND_MANAGED.
"""

import sqlalchemy as sa
from alembic import op


revision = "7c1e5d2a9f30"
down_revision = "4b8425aafcbe"
branch_labels = None
depends_on = None

SQLITE_SEARCH = [
    # External-content FTS5 tables: the text stays in events/event_targets only.
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

POSTGRESQL_SEARCH = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_events_search_trgm ON events USING gin "
    "((action || ' ' || coalesce(actor_name, '')) gin_trgm_ops)",
    "CREATE INDEX ix_event_targets_name_trgm ON event_targets USING gin (name gin_trgm_ops)",
]


def upgrade():
    dialect = op.get_bind().dialect.name
    with op.batch_alter_table("event_targets", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute(
        "UPDATE event_targets SET occurred_at = "
        "(SELECT occurred_at FROM events WHERE events.id = event_targets.event_id)"
    )
    with op.batch_alter_table("event_targets", schema=None) as batch_op:
        batch_op.alter_column(
            "occurred_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.drop_index("ix_event_targets_org_type_target")
        batch_op.create_index(
            "ix_event_targets_org_target_occurred",
            ["organization_id", "target_id", "occurred_at", "event_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_event_targets_org_type_occurred",
            ["organization_id", "type", "occurred_at", "event_id"],
            unique=False,
        )

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_action_occurred")
        batch_op.drop_index("ix_events_org_actor_occurred")
        batch_op.create_index(
            "ix_events_org_action_occurred",
            ["organization_id", "action", "occurred_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_events_org_actor_occurred",
            ["organization_id", "actor_id", "occurred_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_events_org_actor_name_occurred",
            ["organization_id", "actor_name", "occurred_at", "id"],
            unique=False,
        )

    for statement in SQLITE_SEARCH if dialect == "sqlite" else POSTGRESQL_SEARCH:
        op.execute(statement)


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("events_fts_insert", "events_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for name in ("event_targets_fts_insert", "event_targets_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS events_fts")
        op.execute("DROP TABLE IF EXISTS event_targets_fts")
    else:
        op.execute("DROP INDEX IF EXISTS ix_events_search_trgm")
        op.execute("DROP INDEX IF EXISTS ix_event_targets_name_trgm")

    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_org_actor_name_occurred")
        batch_op.drop_index("ix_events_org_actor_occurred")
        batch_op.drop_index("ix_events_org_action_occurred")
        batch_op.create_index(
            "ix_events_org_actor_occurred",
            ["organization_id", "actor_id", "occurred_at"],
            unique=False,
        )
        batch_op.create_index(
            "ix_events_org_action_occurred",
            ["organization_id", "action", "occurred_at"],
            unique=False,
        )

    with op.batch_alter_table("event_targets", schema=None) as batch_op:
        batch_op.drop_index("ix_event_targets_org_type_occurred")
        batch_op.drop_index("ix_event_targets_org_target_occurred")
        batch_op.create_index(
            "ix_event_targets_org_type_target",
            ["organization_id", "type", "target_id"],
            unique=False,
        )
        batch_op.drop_column("occurred_at")
