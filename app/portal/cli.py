"""``flask portal ...``: Admin Portal links from the command line (support, scripts)."""

import click
from flask.cli import AppGroup

from app import database
from app.ledger.shape import check_shape
from app.orgs.cli import organization_or_fail
from app.portal import services
from app.portal.models import Intent
from app.portal.shape import LinkRequest
from app.service_errors import ServiceError
from app.timestamps import isoformat, utcnow
from app.trail import services as trail

portal_cli = AppGroup("portal", help="Make, list and revoke Admin Portal links.")

org_option = click.option(
    "--org", "org_id", required=True, help="Organization id (org_...) the links belong to."
)


@portal_cli.command("link")
@org_option
@click.option("--intent", type=click.Choice([intent.value for intent in Intent]), required=True)
@click.option("--user", "external_user_id", help="Your id of the person the link is for.")
@click.option("--return-url", help="Where the portal's button leaves to.")
@click.option("--success-url", help="The log-streams portal's Done.")
@click.option(
    "--base-url",
    default="http://127.0.0.1:5000",
    show_default=True,
    help="This service's address as the person's browser reaches it.",
)
def link(org_id, intent, external_user_id, return_url, success_url, base_url):
    """Print a single-use link (open it within 5 minutes)."""
    fields = {"return_url": return_url, "success_url": success_url}
    fields["external_user_id"] = external_user_id
    body = {"organization": org_id, "intent": intent}
    body.update({name: value for name, value in fields.items() if value is not None})
    parsed, problems = check_shape(LinkRequest, body)
    if problems:
        raise click.UsageError(" ".join(problem["message"] for problem in problems))
    actor = trail.cli_actor()
    try:
        with database.writes():
            _link, secret = services.generate_link(
                organization_or_fail(org_id),
                parsed.intent,
                actor=actor,
                created_by=f"cli:{actor.id}",
                return_url=parsed.return_url,
                success_url=parsed.success_url,
                external_user_id=parsed.external_user_id,
            )
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    click.echo(f"{base_url.rstrip('/')}/portal/launch?secret={secret}")


@portal_cli.command("list")
@org_option
def list_links(org_id):
    """Print the latest links: id, intent, person, state, created, session end."""
    now = utcnow()
    with database.reads():
        links = services.links_of(organization_or_fail(org_id).id)
    for found in links:
        ends = found.closed_at or found.session_expires_at
        columns = [found.id, found.intent, found.external_user_id or "-", found.state(now)]
        click.echo(
            "\t".join([*columns, isoformat(found.created_at), isoformat(ends) if ends else "-"])
        )


@portal_cli.command("revoke")
@click.argument("link_id")
@org_option
def revoke(link_id, org_id):
    """Revoke a link: it no longer opens, and its session (if open) ends."""
    actor = trail.cli_actor()
    with database.writes():
        org = organization_or_fail(org_id)
        found = services.get_link(org.id, link_id)
        if found is None:
            raise click.BadParameter(
                f"{org.id} has no portal link {link_id!r}.", param_hint="LINK_ID"
            )
        done = services.revoke(found, actor, revoked_by=f"cli:{actor.id}")
    click.echo(f"Revoked {link_id}." if done else f"{link_id} was already revoked.")
