"""one job runner: verification runs and the daily job hold the same lease as exports

Revision ID: f4c6a8e0b2d4
Revises: e3b7c9d1f5a2
Create Date: 2026-12-03 13:20:00

Every job now keeps its lease in the same columns (``state``, ``worker``,
``heartbeat_at``, ``attempts``), which the one runner claims and renews
(app/jobs/lease.py):

- verification_runs: ``worker``, ``heartbeat_at``, ``attempts``; a run now waits as
  ``pending`` until a runner claims it. A run still ``running`` at the upgrade (the old
  code's thread died with its server) ends as ``error``.
- maintenance_jobs: ``state``, ``worker``, ``heartbeat_at``, ``attempts`` replace
  ``locked_by`` and ``locked_until``. A lease held during the upgrade is dropped (the job
  is idle afterwards): upgrades run with the servers stopped, and the daily job is due
  again at the next check anyway.
"""

import sqlalchemy as sa
from alembic import op

revision = "f4c6a8e0b2d4"
down_revision = "e3b7c9d1f5a2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("verification_runs") as batch:
        batch.add_column(sa.Column("worker", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
        )
    # A run left running by the old code has no lease the runner could take over.
    op.execute(
        "UPDATE verification_runs SET state = 'error', "
        "message = 'The verification stopped when the server was upgraded. Start it again.' "
        "WHERE state = 'running'"
    )
    with op.batch_alter_table("maintenance_jobs") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="idle")
        )
        batch.add_column(sa.Column("worker", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.drop_column("locked_by")
        batch.drop_column("locked_until")


def downgrade():
    with op.batch_alter_table("maintenance_jobs") as batch:
        batch.add_column(sa.Column("locked_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.drop_column("attempts")
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
        batch.drop_column("state")
    op.execute("UPDATE verification_runs SET state = 'error' WHERE state = 'pending'")
    with op.batch_alter_table("verification_runs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("heartbeat_at")
        batch.drop_column("worker")
