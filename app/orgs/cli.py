"""``flask orgs ...``: organizations from the command line."""

import click
from flask.cli import AppGroup

from app.extensions import db
from app.orgs import services
from app.service_errors import ServiceError

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
        org = services.create_organization(name)
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    db.session.commit()
    click.echo(org.id)
