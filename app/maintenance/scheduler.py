"""The daily job's queue for the job runner (``RETENTION_PURGE``): every few minutes each
server process's runner asks whether the daily job is due; the one that claims it runs
it (app/maintenance/services.py)."""

import logging

from app.maintenance import services
from app.timestamps import utcnow

logger = logging.getLogger(__name__)

NAME = "daily"
SETTINGS = ("daily", "off")
CHECK_EVERY_SECONDS = 300  # how often a process asks whether the daily job is due


class DailyQueue:
    """The daily maintenance, for the runner."""

    name = NAME
    poll_seconds = CHECK_EVERY_SECONDS

    def run_once(self, runner):
        """Run the daily job if it is due and this process gets it; 1 if it ran."""
        result = services.run_if_due(runner.name, utcnow())
        if result is None:
            return 0
        logger.info("daily job: %s", result)
        return 1


def queue_for(app):
    """The daily queue when ``RETENTION_PURGE`` is ``daily``, else ``None`` (a typo is
    refused)."""
    setting = app.config["RETENTION_PURGE"]
    if setting not in SETTINGS:
        raise ValueError(f"RETENTION_PURGE must be one of {', '.join(SETTINGS)}, not {setting!r}")
    return DailyQueue() if setting == "daily" else None
