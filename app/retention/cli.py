"""``flask retention purge``: delete events past each organization's retention period."""

import sys
from datetime import datetime

import click
from flask.cli import AppGroup

from app.orgs.cli import organization_or_fail
from app.retention import services
from app.timestamps import isoformat, parse_bounded, utcnow

retention_cli = AppGroup("retention", help="Apply retention periods.")


def parse_as_of(_context, _param, value):
    """``--as-of``: an ISO 8601 date or time (UTC unless it says otherwise), not in the future."""
    if value is None:
        return utcnow()
    try:
        moment = parse_bounded(datetime.fromisoformat, value.replace("Z", "+00:00"))
    except ValueError as error:
        raise click.BadParameter(
            f"{value!r} is not a date or time such as 2026-01-31 or 2026-01-31T12:00:00Z."
        ) from error
    if moment > utcnow():
        raise click.BadParameter("must not be in the future (that would purge events early).")
    return moment


@retention_cli.command("purge")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@click.option(
    "--as-of",
    callback=parse_as_of,
    metavar="DATETIME",
    help="Apply the periods as of this past moment instead of now (UTC unless an offset is given).",
)
@click.option("--org", "org_id", help="Only this organization (org_...).")
def purge_command(dry_run, as_of, org_id):
    """Delete events older than each organization's retention period, in batches.

    Safe to interrupt and to run again: each batch commits with the chain's purge
    checkpoint, so the log still verifies. Exit status 1 if a chain problem stopped a purge.
    """
    if org_id is not None:
        organization_or_fail(org_id)
    plan = services.read_plan(as_of, org_id)
    if not plan:
        click.echo("No organization has a retention period: nothing to purge.")
        return
    if dry_run:
        for report in plan:
            click.echo(
                f"{report.org_id} ({report.name}): {report.events_text} received before "
                f"{isoformat(report.cutoff)} would be deleted."
            )
        return
    with click.progressbar(
        length=sum(report.events for report in plan), label="Purging", file=sys.stderr
    ) as bar:
        done = services.purge(as_of, org_id, progress=bar.update, plan=plan)
    failed = False
    for report in done:
        click.echo(
            f"{report.org_id} ({report.name}): {report.events:,} events deleted; "
            f"checkpoint at seq {report.through_seq}."
        )
        if report.finding is not None:
            failed = True
            click.echo(
                f"  Stopped at seq {report.finding.seq}: {report.finding.message} "
                f"Run `flask audit verify --org {report.org_id}`.",
                err=True,
            )
    if failed:
        sys.exit(1)
