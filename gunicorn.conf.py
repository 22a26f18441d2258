"""gunicorn settings shared by ``make run`` and the benchmarks (gunicorn reads this file
from the working directory by default).

The master starts the event writer process (``flask events writer``) before any worker,
restarts it if it exits and replaces it on a reload (SIGHUP); workers find it through
EVENT_WRITER_ADDRESS and
EVENT_WRITER_KEY, which they inherit. ``EVENT_WRITER=thread`` in the environment keeps
the writer in each worker process instead (see docs/decisions.md).
"""

import gc
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time

WRITER_START_SECONDS = 30


class WriterProcess:
    """The event writer process, kept running by a thread of the master.

    Kept on the arbiter (``server.auditlog_writer``), not in this module: gunicorn runs
    this file afresh on a reload (SIGHUP), and the new module must still find it.
    """

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="auditlog-writer-")  # mode 0700
        self.address = os.path.join(self.directory, "writer.sock")
        self.key = secrets.token_hex(32)
        self.process = None
        self.stopping = threading.Event()
        self.lock = threading.Lock()  # spawning and stopping never interleave
        self.command = [sys.executable, "-m", "flask", "--app", "app", "events", "writer"]
        self.command += ["--parent-pid", str(os.getpid())]

    def environment(self):
        return {"EVENT_WRITER_ADDRESS": self.address, "EVENT_WRITER_KEY": self.key}

    def start(self, log):
        """Start the process and wait (up to 30 s) for its socket; then keep it running."""
        self._spawn()
        deadline = time.monotonic() + WRITER_START_SECONDS
        while not os.path.exists(self.address) and time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if not os.path.exists(self.address):
            log.warning("the event writer process did not start; workers store events themselves")
        threading.Thread(target=self._supervise, args=(log,), daemon=True).start()

    def _spawn(self):
        # A fixed command: this interpreter running this app's own CLI. A session of its
        # own: a Ctrl-C or a service manager's signal to the master's process group
        # must not stop it before the workers have finished their requests.
        self.process = subprocess.Popen(  # noqa: S603
            self.command, env={**os.environ, **self.environment()}, start_new_session=True
        )

    def _supervise(self, log):
        while True:
            self.process.wait()
            if self.stopping.is_set():
                return
            log.warning("the event writer process exited; restarting it")
            time.sleep(1)
            with self.lock:
                if self.stopping.is_set():
                    return
                self._spawn()

    def restart(self):
        """Replace the process with one running the code on disk now (the supervisor
        starts the new one; workers store events themselves in between)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def stop(self):
        """Let the process finish its transaction and exit; remove its socket directory."""
        with self.lock:
            self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


def on_starting(server):
    """Start the event writer process before the workers, which inherit its address."""
    if os.environ.get("EVENT_WRITER", "process") != "process":
        return
    server.auditlog_writer = WriterProcess()
    os.environ.update(server.auditlog_writer.environment())
    server.auditlog_writer.start(server.log)


def on_reload(server):
    """A reload (SIGHUP) replaces the workers with the code on disk: the writer too."""
    writer = getattr(server, "auditlog_writer", None)
    if writer is not None:
        writer.restart()


def on_exit(server):
    """Stop the event writer process after the workers have stopped."""
    writer = getattr(server, "auditlog_writer", None)
    if writer is not None:
        writer.stop()


def post_fork(server, worker):
    """With a writer thread in each worker: hand the GIL over more often than every 5 ms.

    Request threads are CPU-bound while the writer thread mostly waits on the database;
    with Python's default 5 ms switch interval it waits up to 5 ms for the GIL after each
    database call, which stretches each group commit. (With the writer process, the
    default interval measured faster.)
    """
    if getattr(server, "auditlog_writer", None) is None:
        sys.setswitchinterval(0.0005)


def post_worker_init(worker):
    """Once a worker has loaded the app: keep what it loaded out of the garbage
    collector's passes (``gc.freeze``).

    Python's collector walks every tracked object of a generation it collects; the app
    and its libraries are ~120,000 of them, and a 1,000-event batch allocates enough to
    make it walk them several times. Frozen, they are never walked again: pydantic's
    check of a 1,000-event batch took ~16 µs an event with them in the heap and ~5 µs
    frozen, and a worker's CPU time per batch fell by about a quarter.
    """
    gc.freeze()
