"""The export worker: takes pending jobs and runs them, and deletes expired files.

With ``EXPORT_WORKER = "thread"`` (the default) each server process runs one in a thread,
started by its first request. ``flask exports work`` runs the same loop in the
foreground, for deployments that set ``EXPORT_WORKER = "off"`` and keep exports out of
the server processes.
"""

import threading

from flask import current_app

from app import database
from app.exports import services
from app.extensions import db
from app.timestamps import utcnow

POLL_SECONDS = 5.0  # how often an idle worker looks for jobs other processes created


class ExportWorker:
    """Runs export jobs one after the other until stopped."""

    def __init__(self, app, poll_seconds=POLL_SECONDS):
        self.app = app
        self.poll_seconds = poll_seconds
        self.name = services.worker_name()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = None

    def start(self):
        """Run the loop in a daemon thread."""
        self.thread = threading.Thread(target=self.run, name="export-worker", daemon=True)
        self.thread.start()
        return self

    def notify(self):
        """A job is waiting: look now rather than at the next poll."""
        self.wake.set()

    def stop(self):
        """Stop after the current page of rows; a job in progress goes back to pending."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join()

    def run(self):
        """Work until stopped; a failure is logged and the loop goes on."""
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                self.run_once()
            except Exception:
                self.app.logger.exception("export worker: a round failed")
            self.wake.wait(self.poll_seconds)

    def run_once(self):
        """Expire old files, then run every waiting job; how many jobs ran."""
        with self.app.app_context():
            try:
                with database.writes():
                    services.expire_exports(utcnow())
                ran = 0
                while not self.stopping.is_set():
                    export = services.run_next_export(self.name, should_stop=self.stopping.is_set)
                    if export is None:
                        return ran
                    ran += 1
                return ran
            finally:
                db.session.remove()


WORKER_SETTINGS = ("thread", "off")


def init_app(app):
    """Check ``EXPORT_WORKER`` (a typo would leave every export pending) and, for
    ``thread``, start the worker with each process's first request."""
    setting = app.config["EXPORT_WORKER"]
    if setting not in WORKER_SETTINGS:
        raise ValueError(
            f"EXPORT_WORKER must be one of {', '.join(WORKER_SETTINGS)}, not {setting!r}"
        )
    app.before_request(start_thread_worker)


def start_thread_worker():
    """Before each request: make sure this process's worker thread runs, if configured."""
    app = current_app._get_current_object()
    if app.config["EXPORT_WORKER"] != "thread":
        return
    worker = app.extensions.get("auditlog.export_worker")
    if worker is not None and worker.thread is not None and worker.thread.is_alive():
        return
    with _start_lock:
        worker = app.extensions.get("auditlog.export_worker")
        if worker is None or worker.thread is None or not worker.thread.is_alive():
            app.extensions["auditlog.export_worker"] = ExportWorker(app).start()


_start_lock = threading.Lock()
