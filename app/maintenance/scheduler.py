"""The thread that runs the daily job in each server process (``RETENTION_PURGE``)."""

import logging
import os
import socket
import threading

from flask import current_app

from app.extensions import db
from app.maintenance import services
from app.timestamps import utcnow

logger = logging.getLogger(__name__)

SETTINGS = ("daily", "off")
CHECK_EVERY_SECONDS = 300  # how often a process asks whether the daily job is due


def init_app(app):
    """Check ``RETENTION_PURGE`` and start the scheduler with the first request."""
    setting = app.config["RETENTION_PURGE"]
    if setting not in SETTINGS:
        raise ValueError(f"RETENTION_PURGE must be one of {', '.join(SETTINGS)}, not {setting!r}")
    if setting == "daily":
        app.before_request(start_scheduler)


def start_scheduler():
    """Start this process's scheduler thread once (a before-request hook)."""
    app = current_app._get_current_object()
    if app.extensions.get("auditlog.scheduler") is not None:
        return
    with _start_lock:
        if app.extensions.get("auditlog.scheduler") is None:
            scheduler = Scheduler(app)
            app.extensions["auditlog.scheduler"] = scheduler
            scheduler.start()


_start_lock = threading.Lock()


class Scheduler:
    """Every few minutes, runs the daily job if it is due and no other process has it."""

    def __init__(self, app):
        self.app = app
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self)}"
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="daily-job", daemon=True)

    def start(self):
        """Start the thread."""
        self.thread.start()

    def stop(self):
        """Stop after the current check."""
        self.stopping.set()
        self.thread.join()

    def run(self):
        """The thread's loop: check, then wait (stop() ends the wait at once)."""
        while not self.stopping.is_set():
            self.check()
            self.stopping.wait(CHECK_EVERY_SECONDS)

    def check(self):
        """One check: run the daily job if due; never let an error end the thread."""
        with self.app.app_context():
            try:
                result = services.run_if_due(self.owner, utcnow())
                if result is not None:
                    logger.info("daily job: %s", result)
            except Exception:
                logger.exception("the daily job failed")
            finally:
                db.session.remove()
