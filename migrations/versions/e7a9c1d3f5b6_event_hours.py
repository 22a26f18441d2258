"""event hours: the seq span of each hour's events, which bounds a ranged walk in seq order

Revision ID: e7a9c1d3f5b6
Revises: c2e4a6b8d0f1
Create Date: 2026-12-04 18:10:00

The read API lists events in seq order; with a date range it walks the (organization,
seq) index between the lowest and highest seq of the range's hours (app/events/sequence.py).
The spans of the events already stored are computed here, once.
"""

import sqlalchemy as sa
from alembic import op

revision = "e7a9c1d3f5b6"
down_revision = "c2e4a6b8d0f1"
branch_labels = None
depends_on = None

# Whole UTC hours since 1970, floored (app.ledger.append.hour_of). SQLite keeps naive UTC
# text; its integer division truncates, so times before 1970 are floored by hand.
HOUR = {
    "sqlite": (
        "CASE WHEN CAST(strftime('%s', occurred_at) AS INTEGER) >= 0 "
        "THEN CAST(strftime('%s', occurred_at) AS INTEGER) / 3600 "
        "ELSE -((3599 - CAST(strftime('%s', occurred_at) AS INTEGER)) / 3600) END"
    ),
    "postgresql": "CAST(floor(extract(epoch FROM occurred_at) / 3600) AS BIGINT)",
}


def upgrade():
    op.create_table(
        "event_hours",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["organization_id"], ["organizations.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("organization_id", "hour"),
    )
    hour = HOUR[op.get_bind().dialect.name]
    op.execute(
        "INSERT INTO event_hours (organization_id, hour, first_seq, last_seq) "  # noqa: S608
        f"SELECT organization_id, {hour}, min(seq), max(seq) FROM events "
        f"GROUP BY organization_id, {hour}"
    )


def downgrade():
    op.drop_table("event_hours")
