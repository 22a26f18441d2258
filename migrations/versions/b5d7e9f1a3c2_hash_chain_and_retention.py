"""trust: per-organization sequence numbers and hash chain, purge checkpoints

Revision ID: b5d7e9f1a3c2
Revises: 9a4e6c1b2d3f
Create Date: 2026-11-26 07:10:00
"""

revision = "b5d7e9f1a3c2"
down_revision = "9a4e6c1b2d3f"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
