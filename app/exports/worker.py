"""The exports queue of the job runner (app/jobs/runner.py): runs waiting export jobs
one after the other, and deletes expired files.

With ``EXPORT_WORKER = "thread"`` (the default) each server process's runner takes
exports. ``flask exports work`` runs the same queue in the foreground, for deployments
that set ``EXPORT_WORKER = "off"`` and keep exports out of the server processes.
"""

from app import database
from app.exports import services
from app.timestamps import utcnow

NAME = "exports"
POLL_SECONDS = 5.0  # how often an idle runner looks for jobs other processes created
WORKER_SETTINGS = ("thread", "off")


class ExportQueue:
    """Export jobs, for the runner."""

    name = NAME

    def __init__(self, poll_seconds=POLL_SECONDS):
        self.poll_seconds = poll_seconds

    def run_once(self, runner):
        """Expire old files, then run every waiting job; how many jobs ran."""
        with database.writes():
            services.expire_exports(utcnow())
        ran = 0
        while not runner.stopping.is_set():
            export = services.run_next_export(runner.name, should_stop=runner.stopping.is_set)
            if export is None:
                break
            ran += 1
        return ran


def queue_for(app):
    """The exports queue when this process's runner takes exports, else ``None``; a typo
    in ``EXPORT_WORKER`` (which would leave every export pending) is refused."""
    setting = app.config["EXPORT_WORKER"]
    if setting not in WORKER_SETTINGS:
        raise ValueError(
            f"EXPORT_WORKER must be one of {', '.join(WORKER_SETTINGS)}, not {setting!r}"
        )
    return ExportQueue() if setting == "thread" else None
