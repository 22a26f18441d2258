"""``flask users ...``: accounts from the command line."""

import click
from flask.cli import AppGroup

from app import database
from app.accounts import services
from app.orgs import services as orgs
from app.orgs.cli import organization_or_fail
from app.orgs.models import Role
from app.service_errors import ServiceError
from app.trail import services as trail

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.argument("email")
@click.option("--org", "org_id", required=True, help="Organization id (org_...) to join.")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--superuser", is_flag=True, help="May create organizations.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create(email, org_id, role, superuser, password):
    """Create a user who belongs to an organization in the given role."""
    try:
        with database.writes():
            org = organization_or_fail(org_id)
            user = services.create_user(email, password, is_superuser=superuser)
            orgs.add_member(org, user.email, role, actor=trail.cli_actor())
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    click.echo(f"Created {user.email} ({user.id}), {role} of {org.name} ({org.id}).")
