"""A stream worker killed with ``kill -9`` mid-batch, as a real process: the batch it
was sending is sent again by the next worker once the lease has run out, and the
receiver, deduplicating by id, holds every event exactly once, in seq order."""

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta

from app.streams import delivery
from app.timestamps import utcnow
from tests.conftest import seed_event
from tests.streams.helpers import drain, make_stream, stream_row
from tests.streams.receivers.webhook import WebhookReceiver
from tests.streams.test_delivery import assert_delivered_once_in_order


def start_worker(app):
    """``flask streams work`` in a process of its own, on the test's database."""
    environment = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": app.config["SECRET_KEY"],
        "RETENTION_PURGE": "off",
        "EXPORT_WORKER": "off",
        "STREAM_WORKER": "off",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", "streams", "work", "--poll", "0.1"],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_a_worker_killed_mid_batch_loses_and_duplicates_nothing(app, make_org, make_events):
    org_id = make_org("Acme")
    make_events(org_id, *[seed_event(metadata={"n": str(n)}) for n in range(1500)])
    with WebhookReceiver() as receiver:
        stream_id, receiver.secret = make_stream(app, org_id, settings={"url": receiver.url})
        receiver.hold = threading.Event()
        worker = start_worker(app)
        try:
            # The worker's first request has reached the receiver, which holds it.
            assert receiver.holding.wait(60), worker.stderr.read1().decode()
            worker.send_signal(signal.SIGKILL)
            worker.wait(30)
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.stderr.close()
        # The receiver goes on to accept that request: it got the batch, the worker never
        # heard so, and the cursor never moved.
        receiver.release()
        row = stream_row(app, stream_id)
        assert row.cursor_seq == 0 and row.job_state == "running"
        # Before the lease runs out nobody takes the stream; after it, the next worker does.
        assert drain(app) == 0
        drain(app, now=utcnow() + delivery.LEASE + timedelta(seconds=1))
        row = stream_row(app, stream_id)
        assert row.cursor_seq == 1500 and row.job_state == "idle" and row.attempts == 0
        assert_delivered_once_in_order(app, org_id, receiver)
        # The batch the killed worker sent arrived, and was sent again by the next worker.
        first_keys = [key for key, _batch in receiver.batches]
        assert first_keys.count(f"{stream_id}_1_1000") == 2
