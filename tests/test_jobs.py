"""The one job runner: claims under a lease, heartbeats, retries after a crash, gives up
after the queue's attempts, and a worker that lost its lease changes nothing."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import database
from app.extensions import db
from app.integrity import services as integrity
from app.integrity.models import RunState, VerificationRun
from app.jobs.lease import Lease, LostLease, claim_next
from app.jobs.runner import Runner
from app.orgs.services import get_organization
from app.timestamps import utcnow
from tests.conftest import signal_rounds
from tests.test_integrity import events_for


class Person:
    id, email = "user_x", "x@example.com"


@pytest.fixture
def run_id(app, make_org, make_events):
    """A verification run waiting for a runner, over 30 events."""
    org_id = make_org()
    make_events(org_id, *events_for(30))
    with app.app_context(), database.writes():
        return integrity.create_run(get_organization(org_id), Person()).id


def load(app, run_id):
    with app.app_context():
        return db.session.get(VerificationRun, run_id)


def claim(app, worker, now):
    with app.app_context():
        return claim_next(
            integrity.JOBS,
            worker,
            now,
            give_up=integrity.give_up,
            order_by=(VerificationRun.created_at,),
        )


def test_a_waiting_run_is_claimed_by_one_runner_and_finishes(app, run_id):
    assert load(app, run_id).state == RunState.PENDING
    assert Runner(app, [integrity.VerificationQueue()]).run_once() == 1
    run = load(app, run_id)
    assert (run.state, run.checked, run.attempts, run.worker) == (RunState.PASSED, 30, 1, None)
    assert Runner(app, [integrity.VerificationQueue()]).run_once() == 0  # nothing left


def test_a_run_whose_runner_died_is_taken_up_again_then_given_up(app, run_id):
    now = utcnow()
    assert claim(app, "crashed-1", now).id == run_id  # and then it died: no heartbeat
    assert claim(app, "too-early", now + timedelta(seconds=30)) is None  # the lease holds
    later = now + integrity.STALE_AFTER + timedelta(seconds=1)
    retried = claim(app, "crashed-2", later)
    assert (retried.id, retried.attempts, retried.worker) == (run_id, 2, "crashed-2")
    assert claim(app, "third", later + integrity.STALE_AFTER + timedelta(seconds=1)) is None
    run = load(app, run_id)
    assert run.state == RunState.ERROR
    assert f"interrupted {integrity.MAX_ATTEMPTS} times" in run.message
    with app.app_context():
        from app.ledger.models import Event

        actions = db.session.scalars(select(Event.action).where(Event.action.like("dashboard.%")))
        assert list(actions) == ["dashboard.integrity_verified"]  # recorded once, as error


def test_a_worker_that_lost_its_lease_can_write_nothing(app, run_id):
    now = utcnow()
    first = claim(app, "slow", now)
    with app.app_context():
        slow = Lease.of(integrity.JOBS, first)
    taken = claim(app, "fast", now + integrity.STALE_AFTER + timedelta(seconds=1))
    assert taken.worker == "fast"
    with app.app_context():
        with pytest.raises(LostLease):
            slow.renew(checked=5)
        with pytest.raises(LostLease), database.writes():
            integrity.finish_run(object(), slow)
    run = load(app, run_id)
    assert (run.worker, run.state, run.checked) == ("fast", RunState.RUNNING, 0)


def test_the_runner_thread_runs_a_queue_when_notified_and_stops(app, run_id):
    queue = integrity.VerificationQueue()
    queue.poll_seconds = 3600  # only a notification can wake it after its first round
    rounds = signal_rounds(queue)
    runner = Runner(app, [queue]).start()
    assert rounds.wait(30)
    assert load(app, run_id).state == RunState.PASSED
    rounds.clear()
    runner.notify(integrity.QUEUE)
    assert rounds.wait(30)
    runner.stop()
    assert not runner.alive


def test_an_idle_queue_is_polled_without_the_write_lock(app, make_org):
    """Finding no job takes no SQLite write lock (the event writer may hold it)."""
    make_org()
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's single write lock")
        with database.write_connection():  # someone else writes meanwhile
            assert claim(app, "poller", utcnow()) is None
