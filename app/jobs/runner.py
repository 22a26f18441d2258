"""The one background runner: a thread per server process (started by its first
request) or ``flask jobs work`` in the foreground, running every queue of jobs.

A queue is a feature's kind of job (exports, verification runs, the daily maintenance).
It says how often to look for work when nobody woke it (``poll_seconds``) and does one
round in ``run_once(runner)``: claim jobs under a lease (app/jobs/lease.py) and run them
until none is left or the runner is stopping. ``notify(name)`` makes a queue look now
(a job was just created in this process); other processes' jobs are found at the poll.
"""

import logging
import threading
import time
from typing import Protocol

from flask import current_app

from app.extensions import db
from app.jobs.lease import worker_name

logger = logging.getLogger(__name__)

EXTENSION = "auditlog.job_runner"


class Queue(Protocol):
    """A kind of job the runner runs."""

    name: str
    poll_seconds: float

    def run_once(self, runner) -> int:
        """Run the jobs that are waiting (while ``runner.stopping`` is not set); how many ran."""


class Runner:
    """Runs its queues one after the other, each when due or woken, until stopped."""

    def __init__(self, app, queues):
        self.app = app
        self.queues = list(queues)
        self.name = worker_name()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = None
        self.due = {queue.name: 0.0 for queue in self.queues}  # monotonic time of next round
        self.lock = threading.Lock()

    def start(self):
        """Run the loop in a daemon thread."""
        self.thread = threading.Thread(target=self.run, name="job-runner", daemon=True)
        self.thread.start()
        return self

    @property
    def alive(self):
        """Whether the thread runs."""
        return self.thread is not None and self.thread.is_alive()

    def notify(self, name):
        """A job of queue ``name`` is waiting: look now rather than at the next poll."""
        with self.lock:
            if name in self.due:
                self.due[name] = 0.0
        self.wake.set()

    def stop(self):
        """Stop after the current step of the current job; a job in progress is left to
        its queue (an export goes back to pending) or to its lease."""
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join()

    def run(self):
        """Work until stopped; a failing round is logged and the loop goes on."""
        while not self.stopping.is_set():
            self.wake.clear()
            for queue in self.due_queues():
                self.run_queue(queue)
            self.wake.wait(self.seconds_to_next())

    def due_queues(self):
        """The queues whose round is due, their next round scheduled."""
        now = time.monotonic()
        with self.lock:
            due = [queue for queue in self.queues if self.due[queue.name] <= now]
            for queue in due:
                self.due[queue.name] = now + queue.poll_seconds
        return due

    def seconds_to_next(self):
        """How long the loop may sleep before a queue is due."""
        with self.lock:
            return max(0.0, min(self.due.values(), default=60.0) - time.monotonic())

    def run_queue(self, queue):
        """One round of one queue, in an app context of its own; the jobs that ran."""
        with self.app.app_context():
            try:
                return queue.run_once(self)
            except Exception:
                logger.exception("job runner: a round of %s failed", queue.name)
                return 0
            finally:
                db.session.remove()

    def run_once(self):
        """One round of every queue, now, in the calling thread; how many jobs ran."""
        return sum(self.run_queue(queue) for queue in self.queues)


def init_app(app, queues):
    """Start one runner per process for ``queues`` (those enabled), with its first request."""
    queues = [queue for queue in queues if queue is not None]
    app.extensions["auditlog.job_queues"] = queues
    if queues:
        app.before_request(start_runner)


def start_runner():
    """Before each request: make sure this process's runner thread runs."""
    app = current_app._get_current_object()
    runner = app.extensions.get(EXTENSION)
    if runner is not None and runner.alive:
        return
    with _start_lock:
        runner = app.extensions.get(EXTENSION)
        if runner is None or not runner.alive:
            queues = app.extensions["auditlog.job_queues"]
            app.extensions[EXTENSION] = Runner(app, queues).start()


_start_lock = threading.Lock()


def notify(app, name):
    """Wake this process's runner for a job of queue ``name`` (if it runs)."""
    runner = app.extensions.get(EXTENSION)
    if runner is not None:
        runner.notify(name)


def stop(app):
    """Stop this process's runner (tests, shutdown)."""
    runner = app.extensions.pop(EXTENSION, None)
    if runner is not None:
        runner.stop()
