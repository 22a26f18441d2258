"""``flask keys ...``: API keys from the command line."""

import click
from flask.cli import AppGroup

from app import database
from app.keys import services
from app.orgs.cli import organization_or_fail
from app.service_errors import ServiceError
from app.trail import services as trail

keys_cli = AppGroup("keys", help="Manage API keys.")

org_option = click.option(
    "--org", "org_id", required=True, help="Organization id (org_...) the keys belong to."
)


@keys_cli.command("create")
@org_option
@click.option("--name", required=True, help="What will use the key, e.g. the application.")
def create(org_id, name):
    """Create a key and print its secret, which is shown only this once."""
    try:
        with database.writes():
            org = organization_or_fail(org_id)
            _key, secret = services.create_key(org, name, actor=trail.cli_actor())
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    click.echo(secret)


@keys_cli.command("list")
@org_option
def list_keys(org_id):
    """Print the organization's keys: id, prefix, name and state, one per line."""
    with database.reads():
        keys = services.keys_of(organization_or_fail(org_id))
    for key in keys:
        state = "active" if key.is_active else "revoked"
        click.echo("\t".join([key.id, key.prefix, key.name, state]))


@keys_cli.command("revoke")
@click.argument("key_id")
@org_option
def revoke(key_id, org_id):
    """Revoke a key for good: requests using it are refused from now on."""
    with database.writes():
        org = organization_or_fail(org_id)
        key = services.get_key(org, key_id)
        if key is None:
            raise click.BadParameter(
                f"{org.id} has no key with the id {key_id!r}.", param_hint="KEY_ID"
            )
        services.revoke_key(key, actor=trail.cli_actor())
    click.echo(f"Revoked {key.id} ({key.name}).")
