"""gunicorn settings shared by ``make run`` and the benchmarks (gunicorn reads this file
from the working directory by default): hooks only. The event writer process they start
and supervise is app/ingest/supervisor.py (docs/ingestion.md).
"""

import gc
import importlib.util
import sys
from pathlib import Path

SUPERVISOR = Path(__file__).resolve().parent / "app" / "ingest" / "supervisor.py"


def load_supervisor():
    """app/ingest/supervisor.py, loaded by its path rather than imported from the ``app``
    package: that would stay loaded in the master, and workers forked after a reload
    would run its old code. gunicorn reads this file afresh on a reload, and with it
    the supervisor."""
    spec = importlib.util.spec_from_file_location("auditlog_writer_supervisor", SUPERVISOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


supervisor = load_supervisor()


def on_starting(server):
    """Start the event writer process before the workers."""
    supervisor.start(server)


def on_reload(server):
    """A reload (SIGHUP) replaces the workers, and the writer process with them."""
    supervisor.reload(server)


def on_exit(server):
    """Stop the event writer process after the workers have stopped."""
    supervisor.stop(server)


def post_fork(server, worker):
    """With a writer thread in each worker: hand the GIL over more often than every 5 ms.

    Request threads are CPU-bound while the writer thread mostly waits on the database;
    with Python's default 5 ms switch interval it waits up to 5 ms for the GIL after each
    database call, which stretches each group commit. (With the writer process, the
    default interval measured faster: docs/performance.md.)
    """
    if not supervisor.running(server):
        sys.setswitchinterval(0.0005)


def post_worker_init(worker):
    """Once a worker has loaded the app: keep what it loaded out of the garbage
    collector's passes (``gc.freeze``).

    Python's collector walks every tracked object of a generation it collects; the app
    and its libraries are ~120,000 of them, and a 1,000-event batch allocates enough to
    make it walk them several times. Frozen, they are never walked again
    (docs/performance.md).
    """
    gc.freeze()
