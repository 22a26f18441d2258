"""The event writer process's supervisor, run by gunicorn's master (``gunicorn.conf.py``
calls ``start``, ``reload`` and ``stop`` from its hooks).

The master starts ``flask events writer`` before any worker, restarts it if it exits
and replaces it on a reload (SIGHUP); workers find it through EVENT_WRITER_ADDRESS and
EVENT_WRITER_KEY, which they inherit. ``EVENT_WRITER=thread`` keeps the writer in each
worker process instead (docs/ingestion.md).

Only the standard library here, and gunicorn.conf.py loads this file by its path: had
the master imported the ``app`` package, workers forked after a reload would run the old
code of everything it had loaded.
"""

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


def start(server):
    """Start the writer process before the workers, which inherit its address; kept on
    the arbiter, which a reload keeps (gunicorn reads its config file afresh)."""
    if os.environ.get("EVENT_WRITER", "process") != "process":
        return
    server.auditlog_writer = WriterProcess()
    os.environ.update(server.auditlog_writer.environment())
    server.auditlog_writer.start(server.log)


def reload(server):
    """A reload replaces the workers with the code on disk: the writer too."""
    writer = getattr(server, "auditlog_writer", None)
    if writer is not None:
        writer.restart()


def stop(server):
    """Stop the writer process after the workers have stopped."""
    writer = getattr(server, "auditlog_writer", None)
    if writer is not None:
        writer.stop()


def running(server):
    """Whether this master runs a writer process (else workers have writer threads)."""
    return getattr(server, "auditlog_writer", None) is not None
