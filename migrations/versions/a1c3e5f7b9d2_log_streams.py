"""log streams: each organization's destinations and their delivery cursors

Revision ID: a1c3e5f7b9d2
Revises: f4c6a8e0b2d4
Create Date: 2026-12-03 16:30:00

A log stream delivers an organization's events, in seq order, to one destination
(docs/streams.md). ``cursor_seq`` is the last seq the destination confirmed; the row
is also a job of the runner, so ``job_state``, ``worker``, ``heartbeat_at`` and
``attempts`` hold its lease.
"""

import sqlalchemy as sa
from alembic import op

revision = "a1c3e5f7b9d2"
down_revision = "f4c6a8e0b2d4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "log_streams",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cursor_seq", sa.BigInteger(), nullable=False),
        sa.Column("delivered_events", sa.BigInteger(), nullable=False),
        sa.Column("delivered_batches", sa.BigInteger(), nullable=False),
        sa.Column("purged_unsent", sa.BigInteger(), nullable=False),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("pending_last_seq", sa.BigInteger(), nullable=True),
        sa.Column("test_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("test_requested_by", sa.String(length=254), nullable=True),
        sa.Column("test_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("test_done_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("test_ok", sa.Boolean(), nullable=True),
        sa.Column("test_result", sa.Text(), nullable=True),
        sa.Column("job_state", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_log_streams_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_streams")),
    )
    with op.batch_alter_table("log_streams", schema=None) as batch_op:
        batch_op.create_index("ix_log_streams_job", ["job_state", "state"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_log_streams_organization_id"), ["organization_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("log_streams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_log_streams_organization_id"))
        batch_op.drop_index("ix_log_streams_job")
    op.drop_table("log_streams")
