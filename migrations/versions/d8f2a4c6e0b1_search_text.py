"""free text: one search_text column per event, trigram-indexed on PostgreSQL

Revision ID: d8f2a4c6e0b1
Revises: b5d7e9f1a3c2
Create Date: 2026-11-26 07:40:00

Free text matched the action and actor name on events and, through a subquery per row,
the names on event_targets; PostgreSQL evaluated that subquery for every row it walked.
``search_text`` holds all three, separated by U+001F (app/events/search.py), so a filter
tests one column. On PostgreSQL one trigram index on it replaces the two before. SQLite
keeps its FTS5 tables for finding rare matches.
"""

import sqlalchemy as sa
from alembic import op

revision = "d8f2a4c6e0b1"
down_revision = "b5d7e9f1a3c2"
branch_labels = None
depends_on = None

# action, actor name, then every non-null target name, each after a U+001F.
BACKFILL = {
    "postgresql": """
        UPDATE events SET search_text = events.action || chr(31)
            || coalesce(events.actor_name, '')
            || coalesce((SELECT string_agg(chr(31) || t.name, '' ORDER BY t.position)
                         FROM event_targets t WHERE t.event_id = events.id), '')
    """,
    "sqlite": """
        UPDATE events SET search_text = action || char(31) || coalesce(actor_name, '')
            || coalesce((SELECT group_concat(char(31) || t.name, '')
                         FROM event_targets t WHERE t.event_id = events.id), '')
    """,
}


def upgrade():
    dialect = op.get_bind().dialect.name
    # Not a batch operation: recreating events on SQLite would drop the FTS5 triggers.
    op.add_column("events", sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.execute(BACKFILL[dialect])
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
    op.drop_column("events", "search_text")
