"""``flask streams ...``: log streams from the command line, and a standalone worker."""

import click
from flask import current_app
from flask.cli import AppGroup

from app import database
from app.jobs.runner import work_in_foreground
from app.orgs.cli import organization_or_fail
from app.service_errors import ServiceError
from app.streams import services
from app.streams.delivery import POLL_SECONDS, StreamQueue
from app.streams.kinds import all_kinds, kind_named
from app.timestamps import isoformat
from app.trail import services as trail

streams_cli = AppGroup("streams", help="Manage log streams and run their deliveries.")

org_option = click.option(
    "--org", "org_id", required=True, help="Organization id (org_...) the stream belongs to."
)
set_option = click.option(
    "--set",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A setting of the kind (repeat for several); `flask streams kinds` lists them.",
)


TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def parse_settings(kind, pairs, start=None):
    """``NAME=VALUE`` pairs as the kind's settings, typed as its form would type them."""
    types = {setting.name: setting.type for setting in kind.settings}
    settings = dict(start or {})
    for pair in pairs:
        name, separator, value = pair.partition("=")
        if not separator or name not in types:
            known = ", ".join(types)
            raise click.BadParameter(f"{pair!r}: use NAME=VALUE with NAME one of {known}.")
        if types[name] == "bool":
            word = value.strip().lower()
            if word not in TRUE | FALSE:
                raise click.BadParameter(f"{name} must be true or false, not {value!r}.")
            value = word in TRUE
        elif types[name] == "int" and value.strip():
            try:
                value = int(value)
            except ValueError:
                raise click.BadParameter(f"{name} must be a whole number.") from None
        settings[name] = value
    return settings


def stream_or_fail(org, stream_id):
    stream = services.get_stream(org, stream_id)
    if stream is None:
        raise click.BadParameter(f"{org.id} has no stream {stream_id!r}.", param_hint="STREAM_ID")
    return stream


def ask_secret(kind, secret, required):
    """The secret, asked for without echo when it was not given (never on the command
    line by default: it would stay in the shell's history)."""
    if kind.secret_label is None or kind.generates_secret or secret is not None:
        return secret
    if not required:
        return None
    return click.prompt(kind.secret_label, hide_input=True)


@streams_cli.command("kinds")
def kinds():
    """Print each kind of stream and its settings."""
    for kind in all_kinds().values():
        click.echo(f"{kind.name}: {kind.label}")
        for setting in kind.settings:
            required = " (required)" if setting.required else ""
            click.echo(f"  {setting.name}: {setting.label}{required}")
        if kind.secret_label and not kind.generates_secret:
            click.echo(f"  secret: {kind.secret_label} (asked for)")


@streams_cli.command("create")
@org_option
@click.option("--kind", "kind_name", required=True, help="webhook, splunk, datadog, s3, syslog.")
@click.option("--name", required=True, help="What the stream is for, e.g. the SIEM's name.")
@set_option
@click.option("--secret", default=None, help="The token or key (asked for when left out).")
@click.option(
    "--start",
    type=click.Choice(services.STARTS),
    default="beginning",
    show_default=True,
    help="Deliver every event kept, or only events from now on.",
)
def create(org_id, kind_name, name, pairs, secret, start):
    """Create a stream and print its id (and a webhook's signing secret, shown only once)."""
    try:
        kind = kind_named(kind_name)
        settings = parse_settings(kind, pairs)
        secret = ask_secret(kind, secret, required=True)
        with database.writes():
            org = organization_or_fail(org_id)
            stream, shown = services.create_stream(
                org, kind.name, name, settings, secret=secret, start=start, actor=trail.cli_actor()
            )
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    click.echo(stream.id)
    if shown:
        click.echo(f"{kind.secret_label}: {shown}")


@streams_cli.command("update")
@click.argument("stream_id")
@org_option
@click.option("--name", default=None, help="A new name.")
@set_option
@click.option("--secret", default=None, help="A new token or key.")
def update(stream_id, org_id, name, pairs, secret):
    """Change a stream's name or settings; its cursor stays."""
    try:
        with database.writes():
            org = organization_or_fail(org_id)
            stream = stream_or_fail(org, stream_id)
            kind = kind_named(stream.kind)
            settings = parse_settings(kind, pairs, stream.parsed_settings)
            services.update_stream(
                stream, name or stream.name, settings, secret=secret, actor=trail.cli_actor()
            )
    except ServiceError as error:
        raise click.UsageError(error.message) from error
    click.echo(f"Updated {stream.id}.")


@streams_cli.command("list")
@org_option
def list_streams(org_id):
    """Print the organization's streams: id, kind, state, lag in events, name, destination."""
    with database.reads():
        org = organization_or_fail(org_id)
        for stream in services.streams_of(org):
            health = services.health(stream)
            fields = [stream.id, stream.kind, stream.state, str(health.lag_events), stream.name]
            click.echo("\t".join([*fields, services.describe(stream)]))


@streams_cli.command("show")
@click.argument("stream_id")
@org_option
def show(stream_id, org_id):
    """Print a stream's health: state, cursor, lag, last success and last error."""
    with database.reads():
        stream = stream_or_fail(organization_or_fail(org_id), stream_id)
        health = services.health(stream)
        lines = [
            ("id", stream.id),
            ("name", stream.name),
            ("kind", stream.kind),
            ("destination", services.describe(stream)),
            ("state", stream.state + (f" ({stream.state_reason})" if stream.state_reason else "")),
            ("cursor", stream.cursor_seq),
            ("head", health.head_seq),
            ("lag", f"{health.lag_events} events" + seconds_text(health.lag_seconds)),
            (
                "delivered",
                f"{stream.delivered_events} events in {stream.delivered_batches} batches",
            ),
            ("last success", when(stream.last_success_at)),
            ("last error", f"{when(stream.last_error_at)} {stream.last_error or ''}".strip()),
        ]
        if stream.purged_unsent:
            lines.append(("purged unsent", f"{stream.purged_unsent} events"))
    for label, value in lines:
        click.echo(f"{label}: {value}")


def when(moment):
    return isoformat(moment) if moment else "never"


def seconds_text(seconds):
    return "" if seconds is None else f", the oldest waiting {seconds:.1f} s"


def change_command(name, verb, done):
    """``pause``, ``resume``, ``delete``: one service call on one stream."""

    @streams_cli.command(name, help=f"{verb.capitalize()} a stream.")
    @click.argument("stream_id")
    @org_option
    def command(stream_id, org_id):
        with database.writes():
            stream = stream_or_fail(organization_or_fail(org_id), stream_id)
            getattr(services, f"{name}_stream")(stream, actor=trail.cli_actor())
        click.echo(f"{done} {stream_id}.")

    return command


change_command("pause", "pause (nothing is sent until it is resumed)", "Paused")
change_command("resume", "resume (from its cursor)", "Resumed")
change_command("delete", "delete (the events stay in the log)", "Deleted")


@streams_cli.command("test")
@click.argument("stream_id")
@org_option
def test(stream_id, org_id):
    """Ask for a test event; a runner sends it (`flask streams show` gives the result)."""
    with database.writes():
        stream = stream_or_fail(organization_or_fail(org_id), stream_id)
        services.request_test(stream, requested_by=trail.cli_actor().name)
    click.echo(f"A test event for {stream_id} is waiting for the runner.")


@streams_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is waiting, then exit.")
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),
    default=POLL_SECONDS,
    show_default=True,
    help="Seconds between looks for new events.",
)
def work(once, poll):
    """Deliver streams until stopped (SIGINT, SIGTERM). Set STREAM_WORKER=off in the
    server processes to keep deliveries out of them."""
    work_in_foreground(
        current_app._get_current_object(), StreamQueue(poll_seconds=poll), once, "round", click.echo
    )
