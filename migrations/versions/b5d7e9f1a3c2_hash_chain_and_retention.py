"""trust: per-organization sequence numbers and hash chain, purge checkpoints

Revision ID: b5d7e9f1a3c2
Revises: 9a4e6c1b2d3f
Create Date: 2026-11-26 07:10:00

- events gain ``seq`` (per organization, from 1) and ``hash`` (the chain's SHA-256 through
  the event), unique per (organization, seq); existing events are numbered and hashed per
  organization in insertion order (pk), by the algorithm of docs/integrity.md (copied
  below as it was at this revision: a migration never imports the app's live code);
- chain_heads: each organization's last seq and hash, and the retention purge's
  checkpoint; one row per organization (created here for existing ones);
- verification_runs: the dashboard's "Verify integrity" runs;
- maintenance_jobs: the daily job's lease and last run.

SQLite cannot add a NOT NULL column without a default, and recreating ``events`` (batch
mode) would drop its full-text triggers and break event_targets' foreign key on the way:
there the two columns are added with a default that no insert uses (every insert path
sets both through the ledger's chain).
"""

import hashlib
import json
from datetime import UTC

import sqlalchemy as sa
from alembic import op


revision = "b5d7e9f1a3c2"
down_revision = "9a4e6c1b2d3f"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64
BACKFILL_PAGE = 5000


def upgrade():
    op.create_table(
        "chain_heads",
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("purged_through_seq", sa.BigInteger(), nullable=False),
        sa.Column("purged_through_hash", sa.String(length=64), nullable=False),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_chain_heads_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", name=op.f("pk_chain_heads")),
    )
    op.create_table(
        "verification_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        sa.Column("requested_by_id", sa.String(length=40), nullable=True),
        sa.Column("requested_by_email", sa.String(length=254), nullable=True),
        sa.Column("request_location", sa.String(length=256), nullable=True),
        sa.Column("request_user_agent", sa.String(length=1024), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("total", sa.BigInteger(), nullable=False),
        sa.Column("checked", sa.BigInteger(), nullable=False),
        sa.Column("head_seq", sa.BigInteger(), nullable=True),
        sa.Column("head_hash", sa.String(length=64), nullable=True),
        sa.Column("bad_seq", sa.BigInteger(), nullable=True),
        sa.Column("problem", sa.String(length=16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_verification_runs_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_runs")),
    )
    with op.batch_alter_table("verification_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_runs_organization_id"), ["organization_id"], unique=False
        )
    op.create_table(
        "maintenance_jobs",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("locked_by", sa.String(length=100), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_maintenance_jobs")),
    )

    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("ALTER TABLE events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0")
        op.execute("ALTER TABLE events ADD COLUMN hash VARCHAR(64) NOT NULL DEFAULT ''")
    else:
        op.add_column("events", sa.Column("seq", sa.BigInteger(), nullable=True))
        op.add_column("events", sa.Column("hash", sa.String(length=64), nullable=True))

    backfill_chains(op.get_bind())

    if not sqlite:
        op.alter_column("events", "seq", existing_type=sa.BigInteger(), nullable=False)
        op.alter_column("events", "hash", existing_type=sa.String(length=64), nullable=False)
    op.create_index("ux_events_org_seq", "events", ["organization_id", "seq"], unique=True)


def backfill_chains(connection):
    """Number and hash every organization's existing events in insertion order, and give
    every organization its chain head."""
    events = sa.table(
        "events",
        sa.column("pk", sa.BigInteger()),
        sa.column("id", sa.String()),
        sa.column("organization_id", sa.String()),
        sa.column("received_at", sa.DateTime(timezone=True)),
        sa.column("payload", sa.Text()),
        sa.column("seq", sa.BigInteger()),
        sa.column("hash", sa.String()),
    )
    heads = sa.table(
        "chain_heads",
        sa.column("organization_id", sa.String()),
        sa.column("seq", sa.BigInteger()),
        sa.column("hash", sa.String()),
        sa.column("purged_through_seq", sa.BigInteger()),
        sa.column("purged_through_hash", sa.String()),
    )
    org_ids = connection.execute(sa.text("SELECT id FROM organizations ORDER BY id")).scalars()
    for org_id in list(org_ids):
        seq, previous, after = 0, GENESIS_HASH, -1
        while True:
            rows = connection.execute(
                sa.select(events.c.pk, events.c.id, events.c.received_at, events.c.payload)
                .where(events.c.organization_id == org_id, events.c.pk > after)
                .order_by(events.c.pk)
                .limit(BACKFILL_PAGE)
            ).all()
            if not rows:
                break
            changes = []
            for row in rows:
                seq += 1
                doc = document(json.loads(row.payload), row.id, org_id, row.received_at, seq)
                previous = chain_hash(previous, doc)
                changes.append({"row_pk": row.pk, "new_seq": seq, "new_hash": previous})
            connection.execute(
                events.update()
                .where(events.c.pk == sa.bindparam("row_pk"))
                .values(seq=sa.bindparam("new_seq"), hash=sa.bindparam("new_hash")),
                changes,
            )
            after = rows[-1].pk
        connection.execute(
            heads.insert().values(
                organization_id=org_id,
                seq=seq,
                hash=previous,
                purged_through_seq=0,
                purged_through_hash=GENESIS_HASH,
            )
        )


def document(payload, event_id, org_id, received_at, seq):
    """The document an event's hash covers (docs/integrity.md, as of this revision)."""
    return {
        **payload,
        "id": event_id,
        "organization_id": org_id,
        "received_at": isoformat_exact(received_at),
        "seq": seq,
    }


def isoformat_exact(value):
    """UTC, ``Z``, milliseconds unless the value has finer microseconds (naive is UTC)."""
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    timespec = "microseconds" if value.microsecond % 1000 else "milliseconds"
    return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def chain_hash(previous_hash, doc):
    """SHA-256 (hex) of the previous hash followed by the document's canonical JSON."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(previous_hash.encode() + canonical.encode()).hexdigest()


def downgrade():
    op.drop_index("ux_events_org_seq", table_name="events")
    # Plain ALTER TABLE on SQLite too (3.35+): batch mode would recreate ``events``.
    op.execute("ALTER TABLE events DROP COLUMN hash")
    op.execute("ALTER TABLE events DROP COLUMN seq")
    op.drop_table("maintenance_jobs")
    with op.batch_alter_table("verification_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_runs_organization_id"))
    op.drop_table("verification_runs")
    op.drop_table("chain_heads")
