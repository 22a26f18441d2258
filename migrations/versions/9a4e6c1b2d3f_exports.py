"""exports: export jobs and their downloads

Revision ID: 9a4e6c1b2d3f
Revises: 7c1e5d2a9f30
Create Date: 2026-11-26 07:10:00
"""

revision = "9a4e6c1b2d3f"
down_revision = "7c1e5d2a9f30"
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
