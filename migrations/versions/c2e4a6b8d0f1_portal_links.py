"""portal links: single-use links to an organization's Admin Portal, and their sessions

Revision ID: c2e4a6b8d0f1
Revises: a1c3e5f7b9d2
Create Date: 2026-12-04 04:08:49

A link's row is also its session (opened_at .. session_expires_at); only a SHA-256 of
its secret is stored. Exports and their downloads made in a portal session name its link.
"""

import sqlalchemy as sa
from alembic import op

revision = "c2e4a6b8d0f1"
down_revision = "a1c3e5f7b9d2"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "portal_links",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("success_url", sa.Text(), nullable=True),
        sa.Column("external_user_id", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=300), nullable=False),
        sa.Column("open_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_from", sa.String(length=256), nullable=True),
        sa.Column("session_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_portal_links_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_links")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_portal_links_secret_hash")),
    )
    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_links_org_created", ["organization_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_portal_links_org_external_user",
            ["organization_id", "external_user_id"],
            unique=False,
        )

    with op.batch_alter_table("export_downloads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("portal_link_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_export_downloads_portal_link_id_portal_links"),
            "portal_links",
            ["portal_link_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.add_column(sa.Column("portal_link_id", sa.String(length=40), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_exports_portal_link_id_portal_links"),
            "portal_links",
            ["portal_link_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("exports", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_exports_portal_link_id_portal_links"), type_="foreignkey"
        )
        batch_op.drop_column("portal_link_id")

    with op.batch_alter_table("export_downloads", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_export_downloads_portal_link_id_portal_links"), type_="foreignkey"
        )
        batch_op.drop_column("portal_link_id")

    with op.batch_alter_table("portal_links", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_links_org_external_user")
        batch_op.drop_index("ix_portal_links_org_created")

    op.drop_table("portal_links")
