"""free text: index each organization's distinct names, not every event

Revision ID: e3b7c9d1f5a2
Revises: d8f2a4c6e0b1
Create Date: 2026-11-26 10:20:00

A full-text entry per event (SQLite's FTS5 trigram table over ``search_text``,
PostgreSQL's trigram index on it) cost more per insert than every other index together.
Free text now looks up the organization's distinct actions, actor names and target names
in ``search_terms`` (full-text indexed; a new event usually adds no term), then the
events with those exact values through (organization, action), (organization,
actor_name) and the new event_targets (organization, name) index. ``search_text`` stays:
a walk in time order still tests it row by row. See app/events/search.py.
"""

import sqlalchemy as sa
from alembic import op

revision = "e3b7c9d1f5a2"
down_revision = "d8f2a4c6e0b1"
branch_labels = None
depends_on = None

BACKFILL = """
    INSERT INTO search_terms (organization_id, term)
    SELECT organization_id, action FROM events
    UNION SELECT organization_id, actor_name FROM events WHERE actor_name <> ''
    UNION SELECT organization_id, name FROM event_targets WHERE name <> ''
"""

SQLITE_TERMS_SEARCH = [
    "CREATE VIRTUAL TABLE search_terms_fts USING fts5("
    "term, content='search_terms', content_rowid='pk', tokenize='trigram')",
    "CREATE TRIGGER search_terms_fts_insert AFTER INSERT ON search_terms BEGIN "
    "INSERT INTO search_terms_fts (rowid, term) VALUES (new.pk, new.term); END",
    "CREATE TRIGGER search_terms_fts_delete AFTER DELETE ON search_terms BEGIN "
    "INSERT INTO search_terms_fts (search_terms_fts, rowid, term) "
    "VALUES ('delete', old.pk, old.term); END",
    "INSERT INTO search_terms_fts (search_terms_fts) VALUES ('rebuild')",
]
SQLITE_EVENTS_SEARCH = [
    "CREATE VIRTUAL TABLE events_fts USING fts5("
    "search_text, content='events', content_rowid='pk', tokenize='trigram')",
    "CREATE TRIGGER events_fts_insert AFTER INSERT ON events BEGIN "
    "INSERT INTO events_fts (rowid, search_text) VALUES (new.pk, new.search_text); END",
    "CREATE TRIGGER events_fts_delete AFTER DELETE ON events BEGIN "
    "INSERT INTO events_fts (events_fts, rowid, search_text) "
    "VALUES ('delete', old.pk, old.search_text); END",
    "INSERT INTO events_fts (events_fts) VALUES ('rebuild')",
]


def refresh_sqlite_statistics():
    """Analyze the new index and table where the planner has statistics already: SQLite
    trusts partial statistics, and an index without any looks selective to it (see
    d8f2a4c6e0b1). A database never analyzed keeps SQLite's default guesses."""
    bind = op.get_bind()
    has_statistics = (
        bind.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").first()
        and bind.exec_driver_sql("SELECT 1 FROM sqlite_stat1 LIMIT 1").first()
    )
    if has_statistics:
        op.execute("ANALYZE event_targets")
        op.execute("ANALYZE search_terms")


def upgrade():
    dialect = op.get_bind().dialect.name
    op.create_table(
        "search_terms",
        sa.Column(
            "pk", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True
        ),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("term", sa.String(length=512), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_search_terms_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_search_terms")),
        sa.UniqueConstraint(
            "organization_id", "term", name=op.f("uq_search_terms_organization_id")
        ),
    )
    op.create_index(
        "ix_event_targets_org_name",
        "event_targets",
        ["organization_id", "name", "event_id"],
        unique=False,
    )
    if dialect == "sqlite":
        for name in ("events_fts_insert", "events_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS events_fts")
        for statement in SQLITE_TERMS_SEARCH[:3]:
            op.execute(statement)
        op.execute(BACKFILL)  # the trigger indexes each term
        refresh_sqlite_statistics()
    else:
        op.execute("DROP INDEX IF EXISTS ix_events_search_text_trgm")
        op.execute(BACKFILL)
        op.execute(
            "CREATE INDEX ix_search_terms_term_trgm ON search_terms USING gin (term gin_trgm_ops)"
        )


def downgrade():
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in ("search_terms_fts_insert", "search_terms_fts_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS search_terms_fts")
        for statement in SQLITE_EVENTS_SEARCH:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_search_terms_term_trgm")
        op.execute(
            "CREATE INDEX ix_events_search_text_trgm ON events USING gin (search_text gin_trgm_ops)"
        )
    op.drop_index("ix_event_targets_org_name", table_name="event_targets")
    op.drop_table("search_terms")
