"""``flask exports ...``: a standalone export worker, expiry, and the list of exports."""

import click
from flask import current_app
from flask.cli import AppGroup

from app import database
from app.exports import services
from app.exports.worker import POLL_SECONDS, ExportQueue
from app.jobs.runner import work_in_foreground
from app.orgs.cli import organization_or_fail

exports_cli = AppGroup("exports", help="Run export jobs and manage export files.")


@exports_cli.command("work")
@click.option("--once", is_flag=True, help="Run the waiting jobs, then exit.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=POLL_SECONDS,
    show_default=True,
    help="Seconds between looks for new jobs.",
)
def work(once, poll):
    """Run export jobs until stopped (SIGINT or SIGTERM let the current page finish and put
    the job back for another worker). Set EXPORT_WORKER=off in the server processes."""
    work_in_foreground(
        current_app._get_current_object(),
        ExportQueue(poll_seconds=poll),
        once,
        "export",
        click.echo,
    )


@exports_cli.command("expire")
def expire():
    """Delete the files of exports past their expiry now (the worker also does this)."""
    with database.writes():
        count = services.expire_exports()
    click.echo(f"Expired {count} export{'s' if count != 1 else ''}.")


@exports_cli.command("list")
@click.option("--org", "org_id", required=True, help="Organization id (org_...).")
def list_exports(org_id):
    """Print the organization's exports: id, created, format, state, rows, file size."""
    org = organization_or_fail(org_id)
    for export in services.exports_of(org):
        click.echo(
            "\t".join(
                [
                    export.id,
                    export.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    export.format,
                    services.visible_state(export).value
                    if export.state != "running"
                    else "running",
                    str(export.rows_written),
                    str(export.size_bytes or ""),
                ]
            )
        )
