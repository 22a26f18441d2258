"""gunicorn settings shared by ``make run`` and the benchmarks."""

import sys


def post_fork(server, worker):
    """Hand the GIL over more often than every 5 ms.

    Request threads are CPU-bound while the event writer thread mostly waits on the
    database; with Python's default 5 ms switch interval the writer waits up to 5 ms for
    the GIL after every database call, which stretches each group commit.
    """
    sys.setswitchinterval(0.0005)
