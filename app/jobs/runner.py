"""The one background runner: in each server process (started by its first request), a
thread for each queue of jobs; ``flask exports work`` runs the exports queue in the
foreground.

A queue is a feature's kind of job (exports, verification runs, the daily maintenance).
It says how often to look for work when nobody woke it (``poll_seconds``) and does one
round in ``run_once(runner)``: claim jobs under a lease (app/jobs/lease.py) and run them
until none is left or the runner is stopping. ``notify(name)`` makes a queue look now
(a job was just created in this process); other processes' jobs are found at the poll.
"""

import logging
import signal
import threading
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


class Lane:
    """One queue's thread: a round, then a wait of its poll (a notification ends it)."""

    def __init__(self, runner, queue):
        self.runner = runner
        self.queue = queue
        self.wake = threading.Event()
        self.thread = None

    def start(self):
        """Run the loop in a daemon thread."""
        name = f"jobs-{self.queue.name}"
        self.thread = threading.Thread(target=self.loop, name=name, daemon=True)
        self.thread.start()

    def loop(self):
        """Work until the runner stops; a failing round is logged and the loop goes on."""
        while not self.runner.stopping.is_set():
            self.wake.clear()
            self.runner.run_queue(self.queue)
            self.wake.wait(self.queue.poll_seconds)


class Runner:
    """Runs its queues, each in a thread of its own (a long purge does not hold up the
    verification someone is watching), until stopped."""

    def __init__(self, app, queues):
        self.app = app
        self.name = worker_name()
        self.stopping = threading.Event()
        self.lanes = {queue.name: Lane(self, queue) for queue in queues}

    @property
    def queues(self):
        """The queues this runner runs."""
        return [lane.queue for lane in self.lanes.values()]

    def start(self):
        """Start a thread for each queue."""
        for lane in self.lanes.values():
            lane.start()
        return self

    @property
    def alive(self):
        """Whether every queue's thread runs."""
        return all(
            lane.thread is not None and lane.thread.is_alive() for lane in self.lanes.values()
        )

    def notify(self, name):
        """A job of queue ``name`` is waiting: look now rather than at the next poll."""
        lane = self.lanes.get(name)
        if lane is not None:
            lane.wake.set()

    def request_stop(self):
        """Ask every thread to stop after the current step (safe in a signal handler)."""
        self.stopping.set()
        for lane in self.lanes.values():
            lane.wake.set()

    def stop(self):
        """Stop after the current step of each queue's job, and wait; a job in progress is
        left to its queue (an export goes back to pending) or to its lease."""
        self.request_stop()
        for lane in self.lanes.values():
            if lane.thread is not None:
                lane.thread.join()

    def run(self):
        """Run in the foreground until ``request_stop`` (``flask exports work``)."""
        self.start()
        self.stopping.wait()
        self.stop()

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


def work_in_foreground(app, queue, once, noun, echo):
    r"""A ``flask ... work`` command: with ``once``, one round of ``queue`` (``echo`` says how
    many ``noun``\s ran); else rounds until SIGINT or SIGTERM, which let the current step
    finish."""
    worker = Runner(app, [queue])
    if once:
        ran = worker.run_once()
        echo(f"Ran {ran} {noun}{'s' if ran != 1 else ''}.")
        return

    def stop(_signum, _frame):
        worker.request_stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    echo(f"{queue.name.capitalize()} worker {worker.name} running (Ctrl+C to stop).")
    worker.run()
    echo(f"{queue.name.capitalize()} worker stopped.")


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
