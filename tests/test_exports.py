"""Exports: the filter semantics shared with the viewer, the CSV and NDJSON formats, jobs
(claiming, recovery, expiry), the Exports page and downloads, safety across orgs."""

import csv
import io
import json
import re
import threading
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import select, text
from werkzeug.datastructures import MultiDict

from app.events.filters import EventFilter
from app.exports import services
from app.exports.formats import CSV_HEADER
from app.exports.models import Export, ExportDownload, ExportState
from app.exports.worker import ExportQueue
from app.extensions import db
from app.jobs.runner import Runner
from app.ledger.models import Event
from app.orgs import services as orgs
from app.orgs.models import Role
from app.timestamps import isoformat, isoformat_exact, utcnow
from tests.conftest import signal_rounds
from tests.filter_cases import FILTER_CASES, WORLD, event

CONTRACT_HEADER = (
    "id,occurred_at,received_at,action,version,actor_type,actor_id,actor_name,actor_metadata,"
    "targets,context_location,context_user_agent,metadata"
)

CHAIN_COLUMNS = ["seq", "hash"]  # appended after the contract's columns


def export_events(app, org_id, query="", format="csv", **options):
    """Create an export of the filter in ``query`` through the service, run it, and return
    the export (reloaded)."""
    with app.app_context():
        event_filter = EventFilter.from_args(MultiDict(parse_qsl(query.lstrip("?"))))
        assert not event_filter.errors
        export = services.create_export(
            orgs.get_organization(org_id), event_filter, format, actor=None
        )
        db.session.commit()
        ran = services.run_next_export(**options)
        assert ran is not None and ran.id == export.id
        return db.session.get(Export, export.id)


def file_of(app, export):
    """The export's file, as bytes."""
    with app.app_context():
        return (services.exports_dir() / export.file_name).read_bytes()


def csv_rows(data):
    """Parse an export's CSV (BOM, RFC 4180) into dicts, undoing the formula prefix."""
    assert data.startswith(b"\xef\xbb\xbf")
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    assert reader.fieldnames == [*CONTRACT_HEADER.split(","), *CHAIN_COLUMNS]
    return [{key: unprefixed(value) for key, value in row.items()} for row in reader]


def unprefixed(cell):
    """A cell as stored: one leading ' removed (the export adds it to formula-like text)."""
    return cell[1:] if cell.startswith("'") else cell


@pytest.fixture
def org_id(api_org):
    """Acme, with an admin (so the app is past first-run setup); conftest's ``api_org``."""
    return api_org


@pytest.fixture
def world(org_id, make_events):
    """WORLD stored in Acme: ids in WORLD's order."""
    return make_events(org_id, *WORLD)


# One matrix of filters for the viewer (tests/test_events_viewer.py) and the exports.
@pytest.mark.parametrize(("query", "expected"), FILTER_CASES)
def test_exports_select_exactly_what_the_viewer_shows(app, org_id, world, query, expected):
    for format in ("csv", "ndjson"):
        export = export_events(app, org_id, query, format)
        assert export.state == ExportState.READY
        data = file_of(app, export)
        if format == "csv":
            ids = [row["id"] for row in csv_rows(data)]
        else:
            ids = [json.loads(line)["id"] for line in data.decode().splitlines()]
        assert ids == [world[i] for i in expected], (format, query)
        assert export.rows_written == export.rows_total == len(expected)


def test_a_relative_range_is_frozen_when_the_export_is_created(app, org_id):
    now = utcnow().replace(microsecond=250_000)
    with app.app_context():
        export = services.create_export(
            orgs.get_organization(org_id), EventFilter(range="24h"), now=now, actor=None
        )
        stored = json.loads(export.filters)
        frozen = services.export_filter(export)
    assert stored["range"] == "custom"
    assert frozen.start == (now - timedelta(hours=24)).replace(microsecond=0)
    assert frozen.end == now.replace(microsecond=0) + timedelta(seconds=1)


AWKWARD = [
    "comma, inside",
    'a "quoted" word',
    "two\nlines",
    "carriage\r\nreturn",
    "accents: déjà vu, Zürich, naïve",
    "emoji 🚀🔥 and 中文",
    "=cmd|' /C calc'!A0",
    "-2+3",
    "+44 20 7946 0958",
    "@SUM(A1:A2)",
    "\ttabbed",
    "\rreturned",
    "'already quoted",
    "plain",
]


def test_csv_round_trips_awkward_values(app, org_id, make_events):
    raws = [
        event(
            index,
            action="-weird.action" if index == 0 else "user.signed_in",
            actor=f"user_{index}",
            name=value,
            targets=[
                {"type": "team", "id": f"t_{index}", "name": value, "metadata": {"note": value}},
                {"type": "doc", "id": value},
            ],
            metadata={"value": value, "n": index, "ok": True},
            context={"location": value, "user_agent": value},
        )
        for index, value in enumerate(AWKWARD)
    ]
    raws[1]["actor"]["metadata"] = {"role": '=HYPERLINK("http://x")'}
    ids = make_events(org_id, *raws)
    export = export_events(app, org_id)
    data = file_of(app, export)
    assert data.startswith(b"\xef\xbb\xbf" + CONTRACT_HEADER.encode() + b",seq,hash\r\n")
    rows = csv_rows(data)
    assert [row["id"] for row in rows] == ids  # newest first: index 0 is the newest
    with app.app_context():
        stored = {e.id: e for e in db.session.scalars(select(Event)).all()}
    for row, raw in zip(rows, raws, strict=True):
        event_row = stored[row["id"]]
        assert row["occurred_at"] == isoformat(event_row.occurred_at)
        assert row["received_at"] == isoformat(event_row.received_at)
        assert row["action"] == raw["action"]
        assert row["version"] == "1"
        assert row["actor_type"] == "user"
        assert row["actor_id"] == raw["actor"]["id"]
        assert row["actor_name"] == raw["actor"]["name"]
        assert json.loads(row["actor_metadata"] or "null") == raw["actor"].get("metadata")
        assert json.loads(row["targets"]) == raw["targets"]
        assert row["context_location"] == raw["context"]["location"]
        assert row["context_user_agent"] == raw["context"]["user_agent"]
        assert json.loads(row["metadata"]) == raw["metadata"]
    # Formula-like text is prefixed in the file itself; everything else is untouched.
    raw_rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))[1:]
    by_name = {row[7].lstrip("'"): row for row in raw_rows}
    for value in AWKWARD:
        cell = by_name[value.lstrip("'")][7]
        dangerous = value[0] in "=+-@\t\r'"
        assert cell == ("'" + value if dangerous else value), value
    assert raw_rows[0][3] == "'-weird.action"


def test_ndjson_is_each_event_as_accepted_plus_id_received_at_and_its_chain_fields(
    app, org_id, make_events
):
    raws = [
        event(1, name="Zoë 🚀", metadata={"b": 1, "a": "x"}),
        event(2, targets=[{"type": "doc", "id": "=1+1", "name": "line\nbreak"}]),
    ]
    ids = make_events(org_id, *raws)
    export = export_events(app, org_id, format="ndjson")
    lines = file_of(app, export).decode("utf-8").split("\n")
    assert lines[-1] == ""  # every line ends with a newline
    with app.app_context():
        stored = {e.id: e for e in db.session.scalars(select(Event)).all()}
    by_seq = {e.seq: e for e in stored.values()}
    for line, event_id in zip(lines[:-1], ids, strict=True):
        parsed = json.loads(line)
        row = stored[event_id]
        assert parsed == {
            "id": event_id,
            **json.loads(row.payload),
            "received_at": isoformat_exact(row.received_at),
            "organization_id": org_id,
            "seq": row.seq,
            "prev_hash": by_seq[row.seq - 1].hash if row.seq > 1 else "0" * 64,
            "hash": row.hash,
        }
        assert row.payload[1:-1] in line  # the accepted JSON, byte for byte
        keys = list(parsed)
        assert keys[0] == "id" and keys[-5:] == [
            "received_at",
            "organization_id",
            "seq",
            "prev_hash",
            "hash",
        ]


def test_an_ndjson_export_verifies_on_its_own_and_an_edit_to_it_is_caught(
    app, org_id, make_events, runner, tmp_path
):
    make_events(org_id, *WORLD)
    path = tmp_path / "export.ndjson"
    path.write_bytes(file_of(app, export_events(app, org_id, "?action=user.signed_in", "ndjson")))
    verified = runner.invoke(args=["audit", "verify-export", str(path)])
    assert verified.exit_code == 0, verified.output
    assert "OK" in verified.output
    assert "OK: 2 events verified." in verified.output  # WORLD's two user.signed_in
    lines = path.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["context"]["location"] = "10.0.0.1"
    path.write_text("\n".join([json.dumps(edited), *lines[1:]]) + "\n")
    caught = runner.invoke(args=["audit", "verify-export", str(path)])
    assert caught.exit_code == 1
    assert f"seq {edited['seq']}" in caught.output


def test_csv_rows_carry_seq_and_hash(app, org_id, world):
    rows = csv_rows(file_of(app, export_events(app, org_id)))
    with app.app_context():
        stored = {e.id: (e.seq, e.hash) for e in db.session.scalars(select(Event)).all()}
    assert [(int(row["seq"]), row["hash"]) for row in rows] == [stored[row["id"]] for row in rows]


def test_an_export_after_a_purge_carries_the_checkpoint_as_the_first_previous_hash(
    app, org_id, make_events
):
    make_events(org_id, *WORLD)
    with app.app_context():
        oldest = db.session.scalars(select(Event).order_by(Event.seq)).first()
        db.session.execute(
            text("DELETE FROM event_targets WHERE event_id = :id"), {"id": oldest.id}
        )
        db.session.execute(text("DELETE FROM events WHERE id = :id"), {"id": oldest.id})
        db.session.execute(
            text(
                "UPDATE chain_heads SET purged_through_seq = :seq, purged_through_hash = :hash"
                " WHERE organization_id = :org"
            ),
            {"seq": oldest.seq, "hash": oldest.hash, "org": org_id},
        )
        db.session.commit()
    lines = file_of(app, export_events(app, org_id, format="ndjson")).decode().splitlines()
    second = next(json.loads(line) for line in lines if json.loads(line)["seq"] == oldest.seq + 1)
    assert second["prev_hash"] == oldest.hash


def test_an_empty_export_is_a_header_only(app, org_id):
    export = export_events(app, org_id)
    assert export.state == ExportState.READY and export.rows_written == 0
    header = ",".join([CONTRACT_HEADER, *CHAIN_COLUMNS])
    assert file_of(app, export) == b"\xef\xbb\xbf" + header.encode() + b"\r\n"


def test_the_header_is_defined_once_and_is_the_contracts_then_the_chain_columns():
    assert ",".join(CSV_HEADER) == ",".join([CONTRACT_HEADER, *CHAIN_COLUMNS])


def test_an_export_never_holds_another_orgs_events(app, org_id, make_org, make_events, world):
    globex = make_org("Globex")
    theirs = make_events(globex, *WORLD)
    for query, _expected in FILTER_CASES:
        data = file_of(app, export_events(app, org_id, query))
        assert not any(event_id.encode() in data for event_id in theirs)


# Jobs: claiming, recovery, interruption, expiry


def create(app, org_id, query="", format="csv", now=None):
    """A pending export (not run): its id."""
    with app.app_context():
        event_filter = EventFilter.from_args(MultiDict(parse_qsl(query)))
        export = services.create_export(
            orgs.get_organization(org_id), event_filter, format, now=now, actor=None
        )
        db.session.commit()
        return export.id


def reload(app, export_id):
    with app.app_context():
        return db.session.get(Export, export_id)


def test_a_job_abandoned_by_a_crashed_worker_is_taken_up_again(app, org_id, world):
    export_id = create(app, org_id)
    now = utcnow()
    with app.app_context():
        claimed = services.claim_next_export("crashed-worker", now)
        assert claimed.id == export_id
        # It wrote part of the file, then died.
        services.exports_dir().mkdir(parents=True, exist_ok=True)
        leftover = services.exports_dir() / f".{export_id}-1.part"
        leftover.write_text("half a file")
        # Its lease has not lapsed yet: nobody else takes the job.
        assert services.run_next_export("other", now=now + timedelta(seconds=30)) is None
        taken = services.run_next_export("other", now=now + services.LEASE + timedelta(seconds=1))
        assert taken.id == export_id
        assert not leftover.exists()
    export = reload(app, export_id)
    assert export.state == ExportState.READY and export.attempts == 2
    assert [row["id"] for row in csv_rows(file_of(app, export))] == world


def test_a_job_interrupted_too_often_is_marked_failed_with_a_reason(app, org_id, world):
    export_id = create(app, org_id)
    moment = utcnow()
    with app.app_context():
        for attempt in range(services.MAX_ATTEMPTS):
            claimed = services.claim_next_export(f"crashing-{attempt}", moment)
            assert claimed.id == export_id
            moment += services.LEASE + timedelta(seconds=1)
        assert services.run_next_export("last", now=moment) is None
    export = reload(app, export_id)
    assert export.state == ExportState.ERROR
    assert f"interrupted {services.MAX_ATTEMPTS} times" in export.error
    assert export.file_name is None


def test_a_file_finished_by_a_worker_that_crashed_before_marking_it_ready_is_deleted(
    app, org_id, world
):
    export_id = create(app, org_id)
    moment = utcnow()
    with app.app_context():
        services.claim_next_export("crashed", moment)
        directory = services.exports_dir()
        directory.mkdir(parents=True, exist_ok=True)
        orphan = directory / f"{export_id}-1.csv"  # renamed, then the worker died
        orphan.write_text("id\r\n")
        ran = services.run_next_export("next", now=moment + services.LEASE + timedelta(seconds=1))
        assert ran.id == export_id and ran.state == ExportState.READY
        assert [path.name for path in directory.iterdir()] == [ran.file_name]


def test_an_export_without_an_end_stops_at_its_creation(app, org_id, make_events):
    make_events(org_id, event(5))
    now = utcnow().replace(microsecond=250_000)
    with app.app_context():
        export = services.create_export(
            orgs.get_organization(org_id), EventFilter(), now=now, actor=None
        )
        frozen = services.export_filter(export)
        db.session.commit()
    assert frozen.start is None
    assert frozen.end == now.replace(microsecond=0) + timedelta(seconds=1)
    make_events(org_id, event(0, occurred_at=isoformat(now + timedelta(seconds=5))))
    with app.app_context():
        ran = services.run_next_export("w")
    assert ran.rows_written == 1  # the event stored after the request is not in it


def test_an_unknown_export_worker_setting_is_refused(database):
    from app import create_app

    with pytest.raises(ValueError, match="EXPORT_WORKER must be one of thread, off"):
        create_app({"SQLALCHEMY_DATABASE_URI": database, "EXPORT_WORKER": "threads"})


def test_a_stopping_worker_puts_its_job_back(app, org_id, world):
    export_id = create(app, org_id)
    with app.app_context():
        services.run_next_export("stopping", should_stop=lambda: True)
        assert list(services.exports_dir().iterdir()) == []
    export = reload(app, export_id)
    assert export.state == ExportState.PENDING and export.worker is None
    with app.app_context():
        assert services.run_next_export("next").id == export_id
    assert reload(app, export_id).state == ExportState.READY


def test_a_worker_that_lost_its_job_to_another_leaves_it_alone(app, org_id, world):
    export_id = create(app, org_id)

    def taken_over():
        # Meanwhile, another worker presumed this one dead and took the job.
        with db.engine.begin() as connection:
            connection.execute(
                Export.__table__.update().values(worker="newcomer", attempts=Export.attempts + 1)
            )
        return False

    with app.app_context():
        services.run_next_export("presumed-dead", should_stop=taken_over)
        assert list(services.exports_dir().iterdir()) == []
    export = reload(app, export_id)
    assert export.state == ExportState.RUNNING and export.worker == "newcomer"
    assert export.file_name is None


def test_a_failing_job_is_marked_error_and_leaves_no_file(app, org_id, world, monkeypatch):
    export_id = create(app, org_id)

    def broken(rows):
        raise OSError("No space left on device")

    monkeypatch.setattr(services.FORMATS["csv"], "write", lambda self, rows: broken(rows))
    with app.app_context():
        services.run_next_export("w")
        assert [p.name for p in services.exports_dir().iterdir()] == []
    export = reload(app, export_id)
    assert export.state == ExportState.ERROR
    assert "Writing the file failed (OSError)" in export.error


def test_concurrent_workers_take_different_jobs(app, org_id, world):
    first, second = create(app, org_id), create(app, org_id, "action=user.signed_in")
    taken, barrier = [], threading.Barrier(2)

    def work(name):
        with app.app_context():
            barrier.wait()
            export = services.claim_next_export(name, utcnow())
            taken.append(export.id if export else None)
            db.session.remove()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(taken) == sorted([first, second])


def test_postgresql_workers_skip_a_job_another_has_locked(app, org_id):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite serialises claims with its write lock instead")
    first, second = create(app, org_id), create(app, org_id)
    sql = text(
        "SELECT id FROM exports WHERE state = 'pending' ORDER BY created_at, id "
        "LIMIT 1 FOR UPDATE SKIP LOCKED"
    )
    with app.app_context(), db.engine.connect() as one, db.engine.connect() as two:
        assert one.scalar(sql) == first
        assert two.scalar(sql) == second  # not blocked, not the same job
        with app.test_request_context():
            claimed = services.claim_next_export("third", utcnow())
        assert claimed is None  # both are locked by the open transactions


def test_expired_exports_lose_their_file(app, org_id, world):
    export = export_events(app, org_id)
    with app.app_context():
        path = services.exports_dir() / export.file_name
        assert path.exists()
        assert services.expire_exports(export.expires_at - timedelta(seconds=1)) == 0
        assert services.expire_exports(export.expires_at) == 1
        db.session.commit()
        assert not path.exists()
    expired = reload(app, export.id)
    assert expired.state == ExportState.EXPIRED and expired.file_name is None


def test_the_daily_job_expires_exports(app, org_id, world):
    from app.maintenance import services as maintenance

    export = export_events(app, org_id)
    with app.app_context():
        path = services.exports_dir() / export.file_name
        summary = maintenance.run_if_due("process-a", export.expires_at)
    assert "expire_exports: 1 expired" in summary
    assert not path.exists() and reload(app, export.id).state == ExportState.EXPIRED


def test_exports_expire_after_the_configured_days(app, org_id, world):
    app.config["EXPORT_RETENTION_DAYS"] = 2
    before = utcnow()
    export = export_events(app, org_id)
    assert before + timedelta(days=2) <= export.expires_at <= utcnow() + timedelta(days=2)


def test_files_are_written_under_the_configured_directory(app, org_id, world, tmp_path):
    app.config["EXPORTS_DIR"] = str(tmp_path / "elsewhere")
    export = export_events(app, org_id)
    assert (tmp_path / "elsewhere" / export.file_name).is_file()
    assert [p.name for p in (tmp_path / "elsewhere").iterdir()] == [export.file_name]


def test_the_thread_worker_runs_jobs_when_woken(app, org_id, world):
    queue = ExportQueue(poll_seconds=3600)  # after its first round, only the wake runs it
    worker = Runner(app, [queue])
    app.extensions["auditlog.job_runner"] = worker
    rounds = signal_rounds(queue)
    worker.start()
    export_id = create(app, org_id)  # its commit wakes the worker
    for _ in range(5):
        assert rounds.wait(30), "the worker did not run a round"
        rounds.clear()
        if reload(app, export_id).state == ExportState.READY:
            break
    worker.stop()
    assert reload(app, export_id).state == ExportState.READY
    assert not worker.alive


# The dashboard


@pytest.fixture
def member(org_id, make_user, auth):
    """A viewer of Acme, signed in (viewers may export)."""
    make_user("vera@example.com", org_id, Role.VIEWER)
    auth.login("vera@example.com")
    return org_id


def post_export(client, auth, org_id, query, format="csv"):
    """Submit the viewer's Export form as the browser would."""
    data = MultiDict([*parse_qsl(query.lstrip("?")), ("format", format)])
    data.add("csrf_token", auth.csrf_token())
    return client.post(f"/orgs/{org_id}/exports", data=data)


def test_the_viewer_offers_an_export_of_its_filters(client, member, world):
    html = client.get(f"/orgs/{member}/events?action=user.signed_in&range=7d").get_data(
        as_text=True
    )
    form = html[html.index('<form id="export-control"') :]
    form = form[: form.index("</form>")]
    assert f'action="/orgs/{member}/exports"' in form and 'method="post"' in form
    assert '<input type="hidden" name="action" value="user.signed_in">' in form
    assert '<input type="hidden" name="range" value="7d">' in form
    assert '<option value="ndjson">NDJSON</option>' in form
    partial = client.get(
        f"/orgs/{member}/events?actor=user_", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    fields = re.search(
        r'<div id="export-filter-fields"[^>]*hx-swap-oob="true">(.*?)</div>', partial, re.S
    )
    assert fields and 'name="actor" value="user_"' in fields.group(1)


def test_exporting_from_the_dashboard_exports_what_the_viewer_shows(
    app, client, auth, member, world
):
    query = "?range=30d&target_type=team"
    shown = re.findall(
        r'/events/(evt_[0-9A-Z]{26})"',
        client.get(f"/orgs/{member}/events{query}").get_data(as_text=True),
    )
    shown = list(dict.fromkeys(shown))
    response = post_export(client, auth, member, query, "ndjson")
    assert response.status_code == 303
    assert response.headers["Location"].startswith(
        f"/orgs/{member}/exports?created=audit_log_export_"
    )
    with app.app_context():
        ran = services.run_next_export("w")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Export started" in page and "vera@example.com" in page
    assert "Date range:" in page and "Target type:" in page and "team" in page
    assert "Open in viewer" in page
    download = re.search(r'href="(/orgs/[^"]+/download)"', page).group(1)
    got = client.get(download)
    body = got.get_data(as_text=True)
    got.close()  # the file is sent from disk
    assert got.status_code == 200
    assert got.headers["Content-Disposition"] == f"attachment; filename={ran.id}.ndjson"
    assert got.mimetype == "application/x-ndjson"
    assert "no-store" in got.headers["Cache-Control"]
    ids = [json.loads(line)["id"] for line in body.splitlines()]
    assert ids == shown
    with app.app_context():
        [recorded] = db.session.scalars(select(ExportDownload)).all()
        assert recorded.via == "session" and recorded.user.email == "vera@example.com"
    page = client.get(f"/orgs/{member}/exports").get_data(as_text=True)
    assert "1 download" in page and "by vera@example.com" in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?q=ab", "Type at least 3 characters."),
        ("?range=custom&from=yesterday", "Use a date and time"),
        ("?format=xlsx", "Not a valid choice"),
        ("?actor_id=" + "x" * 300, "At most 256 characters each."),
    ],
)
def test_a_bad_export_request_is_explained_and_creates_nothing(
    app, client, auth, member, query, message
):
    data = MultiDict(parse_qsl(query.lstrip("?")))
    data.setdefault("format", "csv")
    data.add("csrf_token", auth.csrf_token())
    response = client.post(f"/orgs/{member}/exports", data=data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "The export was not created" in html and message in html
    with app.app_context():
        assert db.session.scalars(select(Export)).all() == []


def test_the_export_form_needs_its_csrf_token(app, client, member):
    response = client.post(f"/orgs/{member}/exports", data={"format": "csv"})
    assert response.status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Export)).all() == []


def test_the_exports_page_polls_while_jobs_run_and_shows_progress(app, client, member, world):
    export_id = create(app, member)
    page = client.get(f"/orgs/{member}/exports")
    html = page.get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in html and "waiting" in html
    assert "HX-Request" in page.headers["Vary"]
    with app.app_context():
        services.claim_next_export("w", utcnow())
        db.session.execute(Export.__table__.update().values(rows_total=7, rows_written=3))
        db.session.commit()
    partial = client.get(f"/orgs/{member}/exports", headers={"HX-Request": "true"})
    html = partial.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="exports-table"')
    assert '<progress max="7" value="3"' in html and "3 of 7" in html
    assert 'hx-trigger="every 1s"' in html
    with app.app_context():
        db.session.execute(
            Export.__table__.update().values(heartbeat_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
        services.run_next_export("w2")
    html = client.get(f"/orgs/{member}/exports", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "hx-trigger" not in html  # nothing runs: polling stops
    assert ">ready<" in html and "Download" in html
    rows = len(WORLD) + 1  # and the member's own sign-in, which the log records
    assert f'<td data-label="Rows" class="numeric">{rows}</td>' in html
    assert export_id in html


def test_the_exports_page_explains_failures_and_expiry(app, client, member, world):
    failed = create(app, member)
    with app.app_context():
        export = db.session.get(Export, failed)
        services.fail(export, "The export was interrupted 3 times.", utcnow())
        db.session.commit()
    done = export_events(app, member)
    with app.app_context():
        services.expire_exports(done.expires_at)
        db.session.commit()
    html = client.get(f"/orgs/{member}/exports").get_data(as_text=True)
    assert ">failed<" in html and "The export was interrupted 3 times." in html
    assert ">expired<" in html
    assert "/download" not in html
    response = client.get(f"/orgs/{member}/exports/{done.id}/download")
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "not ready or expired" in page


def test_no_exports_yet_says_how_to_make_one(client, member):
    html = client.get(f"/orgs/{member}/exports").get_data(as_text=True)
    assert "No exports yet" in html and f"/orgs/{member}/events" in html


HOSTILE = '<script>alert("x")</script>'


def test_filters_and_errors_on_the_exports_page_are_escaped(app, client, member):
    export_id = create(app, member, f"q={HOSTILE}&actor_name={HOSTILE}")
    with app.app_context():
        services.fail(db.session.get(Export, export_id), HOSTILE, utcnow())
        db.session.commit()
    html = client.get(f"/orgs/{member}/exports").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;" in html


@pytest.fixture
def two_orgs(app, make_org, make_user, make_events, auth):
    """Acme (ann is a member) and Globex (ann is not), each with a ready export."""
    acme, globex = make_org("Acme"), make_org("Globex")
    make_user("ann@example.com", acme, Role.VIEWER)
    make_user("gil@example.com", globex, Role.ADMIN)
    make_events(acme, *WORLD)
    make_events(globex, *WORLD)
    mine, theirs = export_events(app, acme), export_events(app, globex)
    auth.login("ann@example.com")
    return acme, globex, mine, theirs


def test_a_member_never_sees_or_downloads_another_orgs_exports(app, client, two_orgs):
    acme, globex, mine, theirs = two_orgs
    html = client.get(f"/orgs/{acme}/exports").get_data(as_text=True)
    assert mine.id in html and theirs.id not in html
    assert client.get(f"/orgs/{globex}/exports").status_code == 404
    assert client.get(f"/orgs/{acme}/exports/{theirs.id}/download").status_code == 404
    assert client.get(f"/orgs/{globex}/exports/{theirs.id}/download").status_code == 404
    with app.app_context():
        assert db.session.scalars(select(ExportDownload)).all() == []


def test_signed_out_visitors_cannot_download(app, client, org_id, world):
    export = export_events(app, org_id)
    response = client.get(f"/orgs/{org_id}/exports/{export.id}/download")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# The command line


def test_the_cli_worker_runs_waiting_jobs_and_expires_old_files(app, runner, org_id, world):
    export_id = create(app, org_id)
    result = runner.invoke(args=["exports", "work", "--once"])
    assert result.exit_code == 0, result.output
    assert "Ran 1 export." in result.output
    assert reload(app, export_id).state == ExportState.READY
    listing = runner.invoke(args=["exports", "list", "--org", org_id])
    assert export_id in listing.output and "ready" in listing.output
    with app.app_context():
        db.session.execute(
            Export.__table__.update().values(expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    result = runner.invoke(args=["exports", "expire"])
    assert "Expired 1 export." in result.output
    assert reload(app, export_id).state == ExportState.EXPIRED
