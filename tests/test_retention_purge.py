"""The retention purge: deletes what is past each organization's period, keeps the chain
verifiable, survives interruption; the daily job that runs it."""

import functools
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from app.extensions import db
from app.ingest import services as event_services
from app.ingest.models import IdempotencyRecord
from app.integrity import verify
from app.ledger import search
from app.ledger.append import hour_of
from app.ledger.models import Event, EventHour, EventTarget, SearchTerm
from app.maintenance import services as maintenance
from app.maintenance.models import MaintenanceJob
from app.orgs.services import get_organization
from app.retention import services as retention
from tests.conftest import seed_event

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


@pytest.fixture
def make_aged_events(app, make_events, monkeypatch):
    """Store ``n`` events received ``days`` days before NOW (occurred at the seed
    document's time unless given another)."""

    def make(org_id, n, days, occurred_at="2022-08-29T19:47:52.336Z"):
        received = NOW - timedelta(days=days)
        monkeypatch.setattr(event_services, "utcnow", lambda: received)
        events = [
            seed_event(
                actor={"type": "user", "id": f"user_{days}_{i}", "name": f"User {i}"},
                targets=[{"type": "team", "id": f"team_{i}", "name": f"Team {i}"}],
                occurred_at=occurred_at,
            )
            for i in range(n)
        ]
        ids = make_events(org_id, *events)
        monkeypatch.undo()
        return ids

    return make


def set_period(app, org_id, days):
    with app.app_context():
        retention.set_retention(get_organization(org_id), days, actor=None)
        db.session.commit()


def counts(app, org_id):
    with app.app_context():
        events = db.session.scalar(
            select(func.count()).select_from(Event).where(Event.organization_id == org_id)
        )
        targets = db.session.scalar(
            select(func.count())
            .select_from(EventTarget)
            .where(EventTarget.organization_id == org_id)
        )
        return events, targets


def head_of(app, org_id):
    with app.app_context():
        return verify.read_head(org_id)


def verified(app, org_id):
    with app.app_context():
        return verify.verify_chain(org_id)


@pytest.fixture
def aged(app, make_org, make_aged_events):
    """An organization keeping 30 days: 7 events of 90 days ago, 5 of 40, 4 of 10."""
    org_id = make_org("Aged")
    make_aged_events(org_id, 7, 90)
    make_aged_events(org_id, 5, 40)
    make_aged_events(org_id, 4, 10)
    set_period(app, org_id, 30)
    return org_id


def test_purge_deletes_what_is_past_the_period_and_the_chain_still_verifies(app, aged):
    with app.app_context():
        reports = retention.purge(NOW, batch_size=5)
    assert [(r.org_id, r.events, r.through_seq) for r in reports] == [(aged, 12, 12)]
    assert counts(app, aged) == (4, 4)
    head = head_of(app, aged)
    assert (head.seq, head.purged_through_seq, head.purged_at) == (16, 12, head.purged_at)
    assert head.purged_at is not None
    result = verified(app, aged)
    assert result.ok and result.checked == 4


def test_the_purge_drops_the_hours_it_emptied(app, make_org, make_aged_events):
    """event_hours keeps the spans of hours with an event left (all of a span, even the
    purged seqs in it: a span may be wider than its events); another organization's
    stay."""
    org_id, other = make_org("Aged"), make_org("Other")
    make_aged_events(org_id, 3, 90, occurred_at="2026-01-05T10:15:00Z")  # seq 1-3: purged
    make_aged_events(org_id, 2, 90, occurred_at="2026-05-01T08:00:00Z")  # 4-5: purged
    make_aged_events(org_id, 2, 10, occurred_at="2026-05-01T08:30:00Z")  # 6-7: kept
    make_aged_events(other, 2, 90, occurred_at="2026-01-05T10:15:00Z")
    set_period(app, org_id, 30)

    def spans(org):
        with app.app_context():
            return db.session.execute(
                select(EventHour.hour, EventHour.first_seq, EventHour.last_seq)
                .where(EventHour.organization_id == org)
                .order_by(EventHour.hour)
            ).all()

    january, may = (
        hour_of(datetime.fromisoformat(t)) for t in ("2026-01-05T10Z", "2026-05-01T08Z")
    )
    assert spans(org_id) == [(january, 1, 3), (may, 4, 7)]
    with app.app_context():
        retention.purge(NOW, batch_size=2)
    assert spans(org_id) == [(may, 4, 7)]
    assert spans(other) == [(january, 1, 2)]


def test_an_organization_without_a_period_keeps_everything(app, make_org, make_aged_events):
    org_id = make_org("Forever")
    make_aged_events(org_id, 3, 4000)
    with app.app_context():
        assert retention.purge(NOW) == []
    assert counts(app, org_id) == (3, 3)


def test_the_period_counts_from_when_an_event_was_received(app, aged):
    """Events that occurred long ago but arrived recently stay (seed events occurred 2022)."""
    with app.app_context():
        retention.purge(NOW - timedelta(days=50))  # cutoff: 80 days before NOW
    assert counts(app, aged)[0] == 9


def test_a_dry_run_changes_nothing(app, runner, aged, monkeypatch):
    monkeypatch.setattr("app.retention.cli.utcnow", lambda: NOW)
    result = runner.invoke(args=["retention", "purge", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert f"{aged} (Aged): 12 events received before 2026-05-02T12:00:00.000Z" in result.output
    assert counts(app, aged) == (16, 16)
    assert head_of(app, aged).purged_through_seq == 0


def test_the_plan_counts_what_the_purge_would_delete(app, make_org, make_aged_events):
    """The purge deletes in seq order and stops at the first event not past the period; an
    older event after it waits for the next purge, and the plan says so."""
    org_id = make_org("Late arrivals")
    make_aged_events(org_id, 3, 90)
    make_aged_events(org_id, 1, 10)
    make_aged_events(org_id, 2, 90)  # stored after the recent one (a clock set back)
    set_period(app, org_id, 30)
    with app.app_context():
        planned = retention.purge_plan(NOW)[0]
        purged = retention.purge(NOW)[0]
    assert (planned.events, planned.events_text) == (3, "3 events")
    assert purged.events == 3 and counts(app, org_id)[0] == 3


def test_the_plan_stops_counting_at_its_limit(app, aged):
    with app.app_context():
        capped = retention.purge_plan(NOW, limit=5)[0]
        exact = retention.purge_plan(NOW, limit=12)[0]
    assert (capped.events, capped.more, capped.events_text) == (5, True, "more than 5 events")
    assert (exact.events, exact.more, exact.events_text) == (12, False, "12 events")


def test_cli_purge_with_as_of(app, runner, aged, monkeypatch):
    monkeypatch.setattr("app.retention.cli.utcnow", lambda: NOW)
    as_of = (NOW - timedelta(days=20)).isoformat()
    result = runner.invoke(args=["retention", "purge", "--as-of", as_of])
    assert result.exit_code == 0, result.output
    assert f"{aged} (Aged): 7 events deleted; checkpoint at seq 7." in result.output
    assert verified(app, aged).ok
    check = runner.invoke(args=["audit", "verify", "--org", aged])
    assert check.exit_code == 0 and "Retention purged seq 1 to 7" in check.output


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("yesterday", "is not a date or time"),
        ("2999-01-01", "must not be in the future"),
        ("1800-01-01", "is not a date or time"),
    ],
)
def test_cli_purge_refuses_a_bad_as_of(runner, aged, as_of, message):
    result = runner.invoke(args=["retention", "purge", "--as-of", as_of])
    assert result.exit_code == 2
    assert message in result.output


def test_an_interrupted_purge_resumes_and_verifies(app, aged):
    class Interrupted(Exception):
        pass

    def interrupt(_count):
        raise Interrupted

    with app.app_context(), pytest.raises(Interrupted):
        retention.purge(NOW, batch_size=5, progress=interrupt)
    assert counts(app, aged)[0] == 11  # the first batch committed with its checkpoint
    assert head_of(app, aged).purged_through_seq == 5
    assert verified(app, aged).ok
    with app.app_context():
        reports = retention.purge(NOW, batch_size=5)
    assert reports[0].events == 7
    assert counts(app, aged)[0] == 4
    assert verified(app, aged).ok


def test_purging_twice_deletes_nothing_more(app, aged):
    with app.app_context():
        retention.purge(NOW)
        again = retention.purge(NOW)
    assert again[0].events == 0 and again[0].through_seq == 12
    assert verified(app, aged).ok


def test_everything_purged_still_verifies(app, aged):
    with app.app_context():
        retention.purge(NOW + timedelta(days=60))
    assert counts(app, aged) == (0, 0)
    result = verified(app, aged)
    assert result.ok and result.checked == 0 and result.head.seq == 16


def test_purge_stops_at_tampering_and_keeps_the_evidence(app, runner, aged):
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text("UPDATE events SET actor_name = 'x' WHERE organization_id = :org AND seq = 4"),
            {"org": aged},
        )
    with app.app_context():
        reports = retention.purge(NOW, batch_size=5)
    assert reports[0].events == 3 and reports[0].finding.seq == 4
    assert counts(app, aged)[0] == 13
    result = verified(app, aged)
    assert (result.finding.seq, result.finding.problem) == (4, verify.Problem.CHANGED)


def test_verification_follows_a_purge_that_runs_during_it(app, aged):
    """A walk that meets a gap the purge just made carries on from the new checkpoint."""

    def purge_meanwhile(_count):
        with app.app_context():
            retention.purge(NOW)

    with app.app_context():
        result = verify.verify_chain(aged, progress=purge_meanwhile, page_size=3)
    assert result.ok


def test_verification_follows_a_purge_of_everything_it_was_to_check(
    app, make_org, make_aged_events
):
    """Every event expires while the walk is on its first page: it finds no more events,
    and the purge checkpoint, now at the head, explains why."""
    org_id = make_org("Expiring")
    make_aged_events(org_id, 9, 90)
    set_period(app, org_id, 30)
    purges = []

    def purge_meanwhile(_count):
        if not purges:
            with app.app_context():
                purges.append(retention.purge(NOW)[0].events)

    with app.app_context():
        result = verify.verify_chain(org_id, progress=purge_meanwhile, page_size=3)
    assert purges == [9]
    assert result.ok, result.finding
    assert result.checked == 3 and result.head.seq == 9
    assert verified(app, org_id).ok


def test_verification_reports_nothing_about_events_a_purge_deleted_as_it_read_them(
    app, aged, monkeypatch
):
    """The events of a page are read, then a purge commits, then their targets are read
    (two statements, as at PostgreSQL's READ COMMITTED): the targets look missing."""
    read_page = verify.read_page

    def racing_read_page(*args):
        page = read_page(*args)
        monkeypatch.setattr(verify, "read_page", read_page)  # once (the purge reads pages too)
        purged = []

        def purge_elsewhere():  # another thread, as another process would
            with app.app_context():
                purged.append(retention.purge(NOW)[0].events)

        thread = threading.Thread(target=purge_elsewhere)
        thread.start()
        thread.join()
        assert purged == [12]
        return [verify.StoredEvent(stored.row, []) for stored in page]

    monkeypatch.setattr(verify, "read_page", racing_read_page)
    with app.app_context():
        result = verify.verify_chain(aged, page_size=3)
    assert counts(app, aged) == (4, 4)
    assert result.ok, result.finding
    assert result.checked == 4


def test_expired_idempotency_records_are_purged(app, make_org):
    org_id = make_org()
    with app.app_context():
        for key, age in (("old", timedelta(hours=25)), ("new", timedelta(hours=23))):
            db.session.add(
                IdempotencyRecord(
                    organization_id=org_id,
                    key=key,
                    request_hash="0" * 64,
                    status_code=200,
                    response_body="{}",
                    created_at=NOW - age,
                )
            )
        db.session.commit()
        retention.purge(NOW)
        assert db.session.scalars(select(IdempotencyRecord.key)).all() == ["new"]


def test_the_daily_job_runs_once_a_day_in_one_process(app, aged):
    with app.app_context():
        first = maintenance.run_if_due("process-a", NOW)
        assert "purge_expired" in first
        assert maintenance.run_if_due("process-b", NOW + timedelta(hours=1)) is None
        second = maintenance.run_if_due("process-b", NOW + timedelta(days=1, minutes=1))
        assert second is not None
        assert "purge_expired" in second
    assert counts(app, aged)[0] == 4


def test_a_process_holding_the_job_keeps_others_out_until_its_lease_ends(app, aged):
    with app.app_context():
        assert maintenance.claim("process-a", NOW)
        assert not maintenance.claim("process-b", NOW + timedelta(minutes=5))
        # process-a died without finishing: after the lease, another process runs it.
        assert maintenance.run_if_due("process-b", NOW + maintenance.LEASE + timedelta(seconds=1))


def test_a_long_purge_renews_the_daily_jobs_lease(app, aged, monkeypatch):
    """Each batch takes 50 minutes (on the job's clock): the lease of one hour, renewed
    after every batch, keeps another process out until the end, and the job is then
    released as done."""
    elapsed = [0.0]
    clock = functools.partial(maintenance.JobClock, seconds=lambda: elapsed[0])
    monkeypatch.setattr(maintenance, "JobClock", clock)
    monkeypatch.setattr(retention, "purge", functools.partial(retention.purge, batch_size=5))
    purge_batch = retention.purge_batch
    others = []

    def slow_batch(report, batch_size):
        elapsed[0] += 50 * 60
        others.append(maintenance.claim("process-b", NOW + timedelta(seconds=elapsed[0])))
        return purge_batch(report, batch_size)

    monkeypatch.setattr(retention, "purge_batch", slow_batch)
    with app.app_context():
        summary = maintenance.run_if_due("process-a", NOW)
        job = db.session.get(MaintenanceJob, maintenance.DAILY_JOB)
        assert (job.worker, job.state, job.last_result) == (None, "idle", summary)
    assert others == [False, False, False]  # batches of 5, 5 and 2
    assert f"{aged}: 12 purged" in summary


def test_a_failing_daily_task_does_not_stop_the_others(app, aged, monkeypatch):
    ran = []

    def broken(_now, _lease):
        raise RuntimeError("disk full")

    def fine(now, _lease):
        ran.append(now)
        return "ok"

    monkeypatch.setattr(maintenance, "DAILY_TASKS", [broken, fine])
    with app.app_context():
        summary = maintenance.run_if_due("process-a", NOW)
    assert ran == [NOW]
    assert "broken: failed" in summary


def test_an_unknown_retention_purge_setting_is_refused(database):
    from app import create_app

    with pytest.raises(ValueError, match="RETENTION_PURGE must be one of daily, off"):
        create_app({"SQLALCHEMY_DATABASE_URI": database, "RETENTION_PURGE": "weekly"})


def search_terms(app, org_id):
    with app.app_context():
        return set(
            db.session.scalars(select(SearchTerm.term).where(SearchTerm.organization_id == org_id))
        )


def search_found(app, org_id, q):
    """The ids of the events free text finds through the term dictionary."""
    with app.app_context():
        return search.candidate_ids(db.session, org_id, q, 100, db.engine.dialect.name)


def test_the_purge_forgets_names_only_purged_events_had(app, make_org, make_aged_events):
    """Users and teams 0-6 are 90 days old, 0-3 also 10 days old; the period is 30 days.
    Another organization with the same names keeps them all."""
    org_id, other = make_org("Aged"), make_org("Other")
    make_aged_events(org_id, 7, 90)
    make_aged_events(org_id, 4, 10)
    make_aged_events(other, 7, 90)
    set_period(app, org_id, 30)
    with app.app_context():
        retention.purge(NOW, batch_size=3)
    kept = {f"{kind} {i}" for kind in ("User", "Team") for i in range(4)}
    assert search_terms(app, org_id) == {"user.signed_in", *kept}
    assert search_found(app, org_id, "User 6") == set()
    assert len(search_found(app, org_id, "User 3")) == 1
    assert search_terms(app, other) == {"user.signed_in"} | {
        f"{kind} {i}" for kind in ("User", "Team") for i in range(7)
    }


def test_a_term_an_event_still_uses_in_another_field_stays(
    app, make_org, make_events, make_aged_events, monkeypatch
):
    """A purged event's target name that a kept event has as its actor name stays."""
    org_id = make_org()
    make_aged_events(org_id, 6, 90)
    monkeypatch.setattr(event_services, "utcnow", lambda: NOW - timedelta(days=10))
    make_events(org_id, seed_event(actor={"type": "user", "id": "u1", "name": "Team 5"}))
    monkeypatch.undo()
    set_period(app, org_id, 30)
    with app.app_context():
        retention.purge(NOW)
    assert "Team 5" in search_terms(app, org_id)
    assert "Team 4" not in search_terms(app, org_id)
