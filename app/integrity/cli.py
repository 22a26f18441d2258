"""``flask audit ...``: verify an organization's chain, or an exported NDJSON file."""

import os
import sys

import click
from flask.cli import AppGroup

from app import database
from app.integrity import verify
from app.orgs.cli import organization_or_fail

audit_cli = AppGroup("audit", help="Check that audit logs are intact.")


@audit_cli.command("verify")
@click.option("--org", "org_id", required=True, help="Organization id (org_...) to verify.")
def verify_command(org_id):
    """Walk the organization's hash chain; exit status 0 if intact, 1 if not."""
    with database.reads():
        org = organization_or_fail(org_id)
        head = verify.read_head(org.id)
    with click.progressbar(
        length=head.count, label=f"Verifying {org.name}", file=sys.stderr
    ) as bar:
        result = verify.verify_chain(org.id, progress=bar.update)
    if result.ok:
        click.echo(
            f"OK: {result.checked:,} events verified, seq "
            f"{result.head.purged_through_seq + 1 if result.checked else 0} to {result.head.seq}."
        )
        click.echo(f"Head: seq {result.head.seq}, hash {result.head.hash}")
        if result.head.purged_through_seq:
            click.echo(
                f"Retention purged seq 1 to {result.head.purged_through_seq}; the chain "
                f"continues from hash {result.head.purged_through_hash}."
            )
        return
    finding = result.finding
    click.echo(f"FAILED at seq {finding.seq}: {finding.problem.replace('_', ' ')}.", err=True)
    click.echo(finding.message, err=True)
    click.echo(f"{result.checked:,} events before it verified.", err=True)
    sys.exit(1)


@audit_cli.command("verify-export")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, readable=True))
def verify_export_command(path):
    """Check an exported NDJSON file on its own; exit status 0 if intact, 1 if not."""
    with (
        open(path, "rb") as handle,
        click.progressbar(
            length=os.path.getsize(path), label="Checking the export", file=sys.stderr
        ) as bar,
    ):
        result = verify.verify_export(handle, progress=bar.update)
    if not result.ok:
        finding = result.finding
        where = f"line {result.line}" + (f" (seq {finding.seq})" if finding.seq else "")
        click.echo(f"FAILED at {where}: {finding.problem.replace('_', ' ')}.", err=True)
        click.echo(finding.message, err=True)
        sys.exit(1)
    click.echo(f"OK: {result.lines:,} events verified.")
    for org_id, (seq, hash_) in sorted(result.heads.items()):
        click.echo(f"{org_id}: highest seq {seq}, hash {hash_}")
    if not result.contiguous:
        click.echo(
            "Some seq numbers between the lowest and highest are not in the file (expected "
            "when the export was filtered); each line was checked on its own."
        )
