"""``flask demo ...``: demo data."""

import time

import click
from flask.cli import AppGroup

from app import database
from app.accounts import services as accounts
from app.demo import generator
from app.orgs import services as orgs
from app.trail import services as trail

demo_cli = AppGroup("demo", help="Demo data for trying the dashboard.")


def seed_with_progress(org, count, seed, days):
    """Configure the demo actions and store ``count`` events, showing progress."""
    with database.writes():
        generator.configure_actions(org)
    started = time.monotonic()
    with click.progressbar(length=count, label=f"Storing {count:,} events", show_pos=True) as bar:
        generator.seed_events(org.id, count, seed=seed, days=days, progress=bar.update)
    generator.refresh_statistics()
    elapsed = time.monotonic() - started
    click.echo(f"Stored {count:,} events in {elapsed:.1f}s ({count / elapsed:,.0f} events/s).")


@demo_cli.command("seed")
@click.option("--org", "org_id", required=True, help="The organization's id (org_...).")
@click.option(
    "--events", "count", type=click.IntRange(1, 10_000_000), default=10_000, show_default=True
)
@click.option("--days", type=click.IntRange(1, 3650), default=90, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
def seed(org_id, count, days, seed):
    """Add realistic events (and the schemas they need) to an organization."""
    with database.reads():
        org = orgs.get_organization(org_id)
    if org is None:
        raise click.UsageError(f"No organization {org_id}.")
    seed_with_progress(org, count, seed, days)


DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password"  # noqa: S105  (a local demo, printed on purpose)


@demo_cli.command("setup")
@click.option(
    "--events", "count", type=click.IntRange(0, 10_000_000), default=100_000, show_default=True
)
def setup(count):
    """Create the "Demo Inc." organization and its demo user, with events (once)."""
    with database.writes():
        user = accounts.find_user(DEMO_EMAIL)
        if user is not None:
            org = None
        else:
            user = accounts.create_user(DEMO_EMAIL, DEMO_PASSWORD, is_superuser=True)
            org = orgs.create_organization("Demo Inc.", admin=user, actor=trail.cli_actor())
    if org is not None and count:
        seed_with_progress(org, count, seed=1, days=90)
    click.echo(f"Sign in as {DEMO_EMAIL} with password {DEMO_PASSWORD}")
