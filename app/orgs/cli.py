"""``flask orgs ...``: organizations from the command line."""

import click
from flask.cli import AppGroup

from app import database
from app.orgs import services
from app.service_errors import ServiceError
from app.trail import services as trail

orgs_cli = AppGroup("orgs", help="Manage organizations.")


def organization_or_fail(org_id):
    """The organization with this id, or a usage error naming ``--org``."""
    org = services.get_organization(org_id)
    if org is None:
        raise click.BadParameter(f"no organization has the id {org_id!r}.", param_hint="--org")
    return org


@orgs_cli.command("create")
@click.argument("name")
def create(name):
    """Create an organization and print its id."""
    try:
        with database.writes():
            org = services.create_organization(name, actor=trail.cli_actor())
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    click.echo(org.id)
