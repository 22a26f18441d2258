"""``flask events writer``: the event writer process that gunicorn's master starts."""

import gc
import signal

import click
from flask import current_app
from flask.cli import AppGroup

from app.extensions import db
from app.ingest.process import WriterServer, configured_address

events_cli = AppGroup("events", help="Serve the event writer process.")


@events_cli.command("writer")
@click.option(
    "--parent-pid",
    type=int,
    help="Stop when this process is no longer the parent (gunicorn's master passes its own).",
)
def writer(parent_pid):
    """Store the events of every server process, many requests per transaction.

    Listens on EVENT_WRITER_ADDRESS (a Unix socket path) for clients that know
    EVENT_WRITER_KEY (hex). app/ingest/supervisor.py sets both and starts this command;
    run it yourself only with the same two settings in the server processes' environment.
    SIGTERM or SIGINT finish the transaction in progress, then exit.
    """
    remote = configured_address(current_app.config)
    if remote is None:
        raise click.UsageError("Set EVENT_WRITER_ADDRESS and EVENT_WRITER_KEY.")
    server = WriterServer(db.engine, *remote, parent_pid=parent_pid)

    def stop(_signum, _frame):
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"Event writer listening on {remote[0]}")
    gc.freeze()  # as gunicorn.conf.py's post_worker_init does for the workers
    server.serve_forever()
