"""The hash chain: numbering and hashing at insert, verification, tampering, exports."""

import hashlib
import json
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.ingest.services import request_fingerprint
from app.ingest.writer import EventWriter, Job
from app.integrity import verify
from app.ledger import chain
from app.ledger.append import event_row, target_rows
from app.ledger.models import GENESIS_HASH, Event
from app.ledger.shape import parse_event
from app.timestamps import utcnow
from tests.conftest import run_in_threads, seed_event
from tests.test_exports import export_events, file_of


def events_for(n, actor="user_1"):
    """``n`` distinct events with targets and metadata."""
    return [
        seed_event(
            actor={"type": "user", "id": f"{actor}_{i}", "name": f"User {i}"},
            targets=[
                {"type": "team", "id": f"team_{i}", "name": f"Team {i}"},
                {"type": "doc", "id": f"doc_{i}", "metadata": {"size": i, "ratio": 0.5 + i}},
            ],
            metadata={"n": i, "tiny": 1e-06},
        )
        for i in range(n)
    ]


def execute(app, sql, **params):
    """Run raw SQL in its own transaction: how someone with database access tampers."""
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text(sql), params)


def verify_org(app, org_id):
    with app.app_context():
        return verify.verify_chain(org_id, page_size=3)


@pytest.fixture
def chained(app, make_org, make_events):
    """An organization with ten events: returns its id."""
    org_id = make_org("Chained")
    make_events(org_id, *events_for(10))
    return org_id


def test_events_are_numbered_and_hashed_per_organization(app, make_org, make_events):
    first, second = make_org("First"), make_org("Second")
    make_events(first, *events_for(3))
    make_events(second, *events_for(2))
    make_events(first, *events_for(2))
    with app.app_context():
        rows = db.session.execute(
            select(Event.organization_id, Event.seq, Event.hash, Event.payload).order_by(Event.pk)
        ).all()
    assert [(r.organization_id, r.seq) for r in rows] == [
        (first, 1),
        (first, 2),
        (first, 3),
        (second, 1),
        (second, 2),
        (first, 4),
        (first, 5),
    ]
    assert all(len(r.hash) == 64 for r in rows)
    assert verify_org(app, first).ok and verify_org(app, second).ok


def test_one_transaction_interleaving_organizations_numbers_each_in_insert_order(app, make_org):
    first, second = make_org("First"), make_org("Second")
    with app.app_context():
        writer = EventWriter(db.engine)
        jobs = [
            Job(org_id, *concurrent_rows(org_id, n, f"t{index}"))
            for index, (org_id, n) in enumerate(((second, 2), (first, 3), (second, 1)))
        ]
        writer.store(jobs)  # the group the writer would take at once: one transaction
        writer.stop()
        rows = db.session.execute(select(Event.organization_id, Event.seq).order_by(Event.pk)).all()
    assert all(job.stored and job.error is None for job in jobs)
    assert [tuple(r) for r in rows] == [
        (second, 1),
        (second, 2),
        (first, 1),
        (first, 2),
        (first, 3),
        (second, 3),
    ]
    assert verify_org(app, first).ok and verify_org(app, second).ok


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_document(app, chained):
    """The algorithm of docs/integrity.md, written out with the standard library only."""
    with app.app_context():
        rows = db.session.scalars(
            select(Event).where(Event.organization_id == chained).order_by(Event.seq)
        ).all()
        previous = GENESIS_HASH
        for row in rows:
            doc = {
                **json.loads(row.payload),
                "id": row.id,
                "organization_id": row.organization_id,
                "received_at": row.received_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if row.received_at.microsecond % 1000
                else row.received_at.strftime("%Y-%m-%dT%H:%M:%S.")
                + f"{row.received_at.microsecond // 1000:03d}Z",
                "seq": row.seq,
            }
            canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            previous = hashlib.sha256(previous.encode() + canonical.encode()).hexdigest()
            assert row.hash == previous
        head = verify.read_head(chained)
    assert (head.seq, head.hash) == (10, previous)


def test_orjson_and_the_json_definition_agree(app):
    docs = [
        {"a": 1, "b": 'é😀\u2028\x7f\n"/\\', "c": [True, None, {"z": 1, "y": 2}]},
        {"metadata": {"tiny": 1e-06, "big": 1e16, "n": 0.1}, "actor": {"metadata": {"x": 2.5}}},
        {"n": 2**70},
    ]
    for doc in docs:
        assert chain.canonical_bytes(doc) == json.dumps(
            doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode("utf-8")


def test_document_parts_surround_the_sequence_number_exactly():
    received_at = datetime(2026, 11, 27, 1, 2, 3, 456000, tzinfo=UTC)
    base = {
        "action": "user.signed_in",
        "occurred_at": "2022-08-29T19:47:52.336Z",
        "actor": {"type": "user", "id": "é😀\u2028", "metadata": {"n": 2**70}},
        "targets": [{"type": "team", "id": "t1", "metadata": {"seq": 1}}],
        "context": {"location": "1.2.3.4"},
    }
    payloads = [
        base,
        {**base, "version": 3, "metadata": {"tiny": 1e-06, "seq": "x"}},
        {key: value for key, value in base.items() if key != "targets"},
    ]
    for payload in payloads:
        head, tail = chain.document_parts(payload, "evt_1", "org_1", received_at)
        for seq in (1, 42, 10**12):
            doc = chain.document(payload, "evt_1", "org_1", received_at, seq)
            assert head + str(seq).encode() + tail == chain.canonical_bytes(doc)


def test_request_fingerprints_are_sha256_of_the_json_definition():
    event = {"action": "a", "actor": {"id": "é😀\u2028", "type": "u"}, "version": 2}
    with_float = {**event, "metadata": {"tiny": 1e-06, "n": 3}}
    bodies = [
        {"organization_id": "org_1", "event": event},
        {"organization_id": "org_1", "event": with_float},
        {"organization_id": "org_1", "events": [event, {**event, "targets": []}]},
        {"organization_id": "org_1", "events": [event, with_float]},
    ]
    for body in bodies:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        expected = hashlib.sha256(canonical.encode()).hexdigest()
        assert request_fingerprint(body) == expected


def test_an_intact_chain_verifies_page_by_page(app, chained):
    seen = []
    with app.app_context():
        result = verify.verify_chain(chained, progress=seen.append, page_size=4)
    assert result.ok
    assert result.checked == 10 and seen == [4, 4, 2]
    assert result.head.seq == 10


def test_an_empty_log_verifies(app, make_org):
    result = verify_org(app, make_org("Empty"))
    assert result.ok and result.checked == 0 and result.head.hash == GENESIS_HASH


def payload_of(app, org_id, seq):
    with app.app_context():
        return db.session.scalar(
            select(Event.payload).where(Event.organization_id == org_id, Event.seq == seq)
        )


def edit_event(assignment):
    """A statement that edits the event at ``:seq``: ``UPDATE events SET <assignment>``."""
    return f"UPDATE events SET {assignment} WHERE organization_id = :org AND seq = :seq"


def of_targets(statement, position):
    """``statement`` on the target at ``position`` of the event at ``:seq``."""
    return (
        f"{statement} WHERE position = {position} AND event_id = "
        "(SELECT id FROM events WHERE organization_id = :org AND seq = :seq)"
    )


# Ways someone with database access might change one event: the seq, the statement.
TAMPERING = {
    "edited payload": (5, edit_event("payload = replace(payload, 'User 4', 'Mallory')")),
    "edited indexed column": (6, edit_event("actor_name = 'Mallory'")),
    "edited search text (hides the event from searches)": (4, edit_event("search_text = 'x'")),
    "edited time column": (2, edit_event("occurred_at = received_at")),
    "edited target row": (7, of_targets("UPDATE event_targets SET name = 'Other team'", 0)),
    "deleted target row": (3, of_targets("DELETE FROM event_targets", 1)),
    "edited hash": (8, edit_event("hash = :fake")),
    "unreadable payload": (9, edit_event("payload = 'not json'")),
}


@pytest.mark.parametrize(("seq", "tamper"), TAMPERING.values(), ids=list(TAMPERING))
def test_tampering_is_caught_at_its_seq(app, chained, seq, tamper):
    execute(app, tamper, org=chained, seq=seq, fake="f" * 64)
    result = verify_org(app, chained)
    assert not result.ok
    assert (result.finding.seq, result.finding.problem) == (seq, verify.Problem.CHANGED)
    assert result.checked == seq - 1


def delete_event(app, org_id, seq):
    execute(
        app,
        "DELETE FROM event_targets WHERE event_id = "
        "(SELECT id FROM events WHERE organization_id = :org AND seq = :seq)",
        org=org_id,
        seq=seq,
    )
    execute(
        app, "DELETE FROM events WHERE organization_id = :org AND seq = :seq", org=org_id, seq=seq
    )


def assert_missing(app, org_id, seq, message):
    """Verification finds events missing at ``seq`` and says which in ``message``."""
    result = verify_org(app, org_id)
    assert (result.finding.seq, result.finding.problem) == (seq, verify.Problem.MISSING)
    assert message in result.finding.message


def test_a_deleted_event_is_missing_at_its_seq(app, chained):
    delete_event(app, chained, 4)
    assert_missing(app, chained, 4, "seq 4")


def test_deleted_newest_events_are_missing(app, chained):
    delete_event(app, chained, 10)
    delete_event(app, chained, 9)
    assert_missing(app, chained, 9, "seq 9 to 10")


def test_a_rewritten_seq_hides_no_deletion(app, chained):
    """Deleting an event and renumbering the later ones to close the gap breaks the hashes."""
    delete_event(app, chained, 4)
    for seq in range(5, 11):
        execute(
            app,
            "UPDATE events SET seq = :new WHERE organization_id = :org AND seq = :old",
            org=chained,
            new=seq - 1,
            old=seq,
        )
    execute(app, "UPDATE chain_heads SET seq = 9 WHERE organization_id = :org", org=chained)
    result = verify_org(app, chained)
    assert result.finding.seq == 4
    assert result.finding.problem in {verify.Problem.CHANGED, verify.Problem.OUT_OF_ORDER}


def test_two_swapped_events_are_out_of_order(app, chained):
    execute(app, "UPDATE events SET seq = -1 WHERE organization_id = :org AND seq = 6", org=chained)
    execute(app, "UPDATE events SET seq = 6 WHERE organization_id = :org AND seq = 7", org=chained)
    execute(app, "UPDATE events SET seq = 7 WHERE organization_id = :org AND seq = -1", org=chained)
    result = verify_org(app, chained)
    assert (result.finding.seq, result.finding.problem) == (6, verify.Problem.OUT_OF_ORDER)
    assert "recorded at seq 7" in result.finding.message


def test_a_changed_head_is_caught(app, chained):
    execute(
        app,
        "UPDATE chain_heads SET hash = :fake WHERE organization_id = :org",
        org=chained,
        fake="a" * 64,
    )
    result = verify_org(app, chained)
    assert (result.finding.seq, result.finding.problem) == (10, verify.Problem.CHANGED)


def test_the_walk_stops_at_the_head_it_started_from(app, chained, make_events):
    """Events stored during a walk are for the next one."""
    calls = []

    def progress(count):
        if not calls:
            make_events(chained, *events_for(2, actor="late"))
        calls.append(count)

    with app.app_context():
        result = verify.verify_chain(chained, progress=progress, page_size=5)
    assert result.ok and result.checked == 10 and result.head.seq == 10
    assert verify_org(app, chained).checked == 12


def concurrent_rows(org_id, n, tag):
    """Rows as store_events builds them, for feeding writers directly."""
    rows, targets = [], []
    for raw in events_for(n, actor=tag):
        parsed = parse_event(raw)
        row = event_row(org_id, raw, parsed, utcnow())
        rows.append(row)
        targets.extend(target_rows(row, parsed))
    return rows, targets


def test_the_chain_stays_linear_under_concurrent_writers(app, make_org):
    """Several writers (each its own connection, as several server processes have) append
    to the same organizations at once: every seq is used exactly once and both chains
    verify."""
    first, second = make_org("One"), make_org("Two")
    with app.app_context():
        writers = [EventWriter(db.engine) for _ in range(4)]
    start = threading.Barrier(len(writers))

    def feed(writer, index):
        with app.app_context():
            start.wait()
            for round_ in range(6):
                for org_id in (first, second) if (index + round_) % 2 else (second, first):
                    rows, targets = concurrent_rows(org_id, 5, f"w{index}r{round_}")
                    writer.submit(Job(org_id, rows, targets))

    errors = run_in_threads(feed, [(w, i) for i, w in enumerate(writers)])
    for writer in writers:
        writer.stop()
    assert errors == []
    with app.app_context():
        for org_id in (first, second):
            seqs = db.session.scalars(
                select(Event.seq).where(Event.organization_id == org_id).order_by(Event.pk)
            ).all()
            assert seqs == list(range(1, 4 * 6 * 5 + 1))
    assert verify_org(app, first).ok and verify_org(app, second).ok


def test_cli_verify_reports_ok_with_the_head(app, runner, chained):
    result = runner.invoke(args=["audit", "verify", "--org", chained])
    assert result.exit_code == 0, result.output
    with app.app_context():
        head = verify.read_head(chained)
    assert "OK: 10 events verified" in result.output
    assert head.hash in result.output


def test_cli_verify_reports_the_first_bad_seq_and_exits_1(app, runner, chained):
    delete_event(app, chained, 3)
    result = runner.invoke(args=["audit", "verify", "--org", chained])
    assert result.exit_code == 1
    assert "FAILED at seq 3: missing." in result.output


def test_cli_verify_needs_a_known_organization(runner, chained):
    result = runner.invoke(args=["audit", "verify", "--org", "org_nope"])
    assert result.exit_code == 2
    assert "no organization has the id 'org_nope'" in result.output


def export_lines(app, org_id):
    """The lines of a real NDJSON export of the organization's events, newest seq first
    (so that line n is seq 11 - n, whatever order the events occurred in)."""
    data = file_of(app, export_events(app, org_id, format="ndjson")).decode()
    return sorted(data.splitlines(), key=lambda line: json.loads(line)["seq"], reverse=True)


def test_an_exported_file_verifies_on_its_own(app, runner, chained, tmp_path):
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(export_lines(app, chained)) + "\n", encoding="utf-8")
    result = runner.invoke(args=["audit", "verify-export", str(path)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        head = verify.read_head(chained)
    assert "OK: 10 events verified." in result.output
    assert f"{chained}: highest seq 10, hash {head.hash}" in result.output


def test_a_filtered_export_verifies_line_by_line(app, runner, chained, tmp_path):
    lines = export_lines(app, chained)
    path = tmp_path / "filtered.ndjson"
    path.write_text("\n".join(lines[::3]), encoding="utf-8")
    result = runner.invoke(args=["audit", "verify-export", str(path)])
    assert result.exit_code == 0, result.output
    assert "each line was checked on its own" in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda line: line.replace("User 4", "Mallory"), "line 6 (seq 5): changed"),
        (lambda line: line.replace('"seq":5', '"seq":4'), "line 6 (seq 4): changed"),
        (lambda line: line[:-30], "line 6: changed"),
        (lambda line: json.dumps({"id": "evt_1"}), "line 6: changed"),
    ],
)
def test_a_changed_export_line_is_caught(app, runner, chained, tmp_path, change, message):
    lines = export_lines(app, chained)
    lines[5] = change(lines[5])
    path = tmp_path / "changed.ndjson"
    path.write_text("\n".join(lines), encoding="utf-8")
    result = runner.invoke(args=["audit", "verify-export", str(path)])
    assert result.exit_code == 1
    assert f"FAILED at {message}" in result.output


def test_reordered_export_lines_with_forged_links_are_caught(app, runner, chained, tmp_path):
    lines = [json.loads(line) for line in export_lines(app, chained)]
    # Seq 5's line claims seq 6's previous hash: it no longer links to seq 4.
    lines[5]["prev_hash"] = lines[4]["prev_hash"]
    path = tmp_path / "links.ndjson"
    path.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    result = runner.invoke(args=["audit", "verify-export", str(path)])
    assert result.exit_code == 1
    assert "seq 5" in result.output


def test_upgrading_chains_existing_events_in_insertion_order(tmp_path):
    """A database from before the chain gets every organization's events numbered and
    hashed by the migration, and verifies (SQLite: a fresh file is the old database)."""
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}",
            "SECRET_KEY": "x",
            "RETENTION_PURGE": "off",
        }
    )
    with app.app_context():
        upgrade(revision="9a4e6c1b2d3f")
        with db.engine.begin() as connection:
            for org in ("org_a", "org_b"):
                connection.execute(
                    text("INSERT INTO organizations (id, name, created_at) VALUES (:id, :id, :t)"),
                    {"id": org, "t": "2026-01-01 00:00:00"},
                )
            for i in range(5):
                org = "org_a" if i % 2 == 0 else "org_b"
                payload = json.dumps(seed_event(metadata={"n": i}))
                # Received out of order: the second row arrived "earlier" than the first.
                received = f"2026-01-01 00:00:0{5 - i}.000000"
                connection.execute(
                    text(
                        "INSERT INTO events (id, organization_id, action, version, occurred_at, "
                        "received_at, actor_type, actor_id, actor_name, location, user_agent, "
                        "payload) VALUES (:id, :org, 'user.signed_in', 1, "
                        "'2022-08-29 19:47:52.336000', :received, 'user', "
                        "'user_01GBNJC3MX9ZZJW1FSTF4C5938', NULL, '123.123.123.123', "
                        "'Chrome/104.0.0.0', :payload)"
                    ),
                    {"id": f"evt_{i}", "org": org, "received": received, "payload": payload},
                )
                connection.execute(
                    text(
                        "INSERT INTO event_targets (event_id, organization_id, position, type, "
                        "target_id, name, occurred_at) VALUES (:id, :org, 0, 'team', "
                        "'team_01GBNJD4MKHVKJGEWK42JNMBGS', NULL, '2022-08-29 19:47:52.336000')"
                    ),
                    {"id": f"evt_{i}", "org": org},
                )
        upgrade()
        rows = db.session.execute(select(Event.id, Event.seq).order_by(Event.pk)).all()
        assert [tuple(row) for row in rows] == [
            ("evt_0", 1),
            ("evt_1", 1),
            ("evt_2", 2),
            ("evt_3", 2),
            ("evt_4", 3),
        ]
        assert verify.verify_chain("org_a").ok and verify.verify_chain("org_b").ok
        assert verify.read_head("org_a").seq == 3
        db.session.remove()
        db.engine.dispose()
