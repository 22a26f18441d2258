"""The migrations build exactly the schema the models describe, go down as well as up,
and never import the app's live code."""

import ast
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from app import create_app
from app.extensions import db
from app.ledger.search import include_name

VERSIONS = Path(__file__).resolve().parent.parent / "migrations" / "versions"
# Oldest first: each revision's down_revision is the one before it.
REVISIONS = [
    "53ce2a23c517",
    "4b8425aafcbe",
    "7c1e5d2a9f30",
    "9a4e6c1b2d3f",
    "b5d7e9f1a3c2",
    "d8f2a4c6e0b1",
    "e3b7c9d1f5a2",
    "f4c6a8e0b2d4",
    "a1c3e5f7b9d2",
    "c2e4a6b8d0f1",
    "e7a9c1d3f5b6",
]


def schema_differences():
    """What autogenerate would change to make the database match the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": True, "include_name": include_name},
        )
        return compare_metadata(context, db.metadata)


def test_migrated_schema_matches_the_models(app):
    with app.app_context():
        assert schema_differences() == []


def test_no_migration_imports_the_app():
    """A migration runs against the code of its own day: it copies what it needs
    (the chain backfill its hash) instead of importing app code that moves on."""
    for path in VERSIONS.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            assert not any(name == "app" or name.startswith("app.") for name in names), path.name


def test_the_revisions_are_one_line():
    """REVISIONS above lists every migration in order (the round trip walks it)."""
    found = {}
    for path in VERSIONS.glob("*.py"):
        tree = ast.parse(path.read_text())
        values = {
            target.id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        found[values["revision"]] = values["down_revision"]
    assert found == dict(zip(REVISIONS, [None, *REVISIONS[:-1]], strict=True))


SCRATCH_SCHEMA = "roundtrip"


@pytest.fixture
def scratch_app(database, tmp_path):
    """The app on an empty database of its own: a SQLite file, or on PostgreSQL a schema
    searched before public (where the suite's tables and pg_trgm live), with Alembic's
    version table in it too, so that nothing of public is seen as migrated."""
    if database.startswith("sqlite"):
        yield create_app(scratch_config(f"sqlite:///{tmp_path / 'roundtrip.db'}"))
        return
    engine = create_engine(database)
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA IF EXISTS {SCRATCH_SCHEMA} CASCADE"))
        connection.execute(text(f"CREATE SCHEMA {SCRATCH_SCHEMA}"))
    separator = "&" if "?" in database else "?"
    app = create_app(
        scratch_config(f"{database}{separator}options=-csearch_path%3D{SCRATCH_SCHEMA},public")
    )
    app.extensions["migrate"].configure_args["version_table_schema"] = SCRATCH_SCHEMA
    yield app
    with engine.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {SCRATCH_SCHEMA} CASCADE"))
    # The suite's own tables are untouched.
    assert "events" in inspect(engine).get_table_names(schema="public")
    engine.dispose()


def scratch_config(uri):
    """The settings of an app on a scratch database."""
    return {"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "x", "RETENTION_PURGE": "off"}


def current_schema():
    """Where the scratch app's tables are (None: SQLite's only one)."""
    return SCRATCH_SCHEMA if db.engine.dialect.name == "postgresql" else None


def test_every_migration_goes_down_and_up_again(scratch_app):
    """From the latest revision down one step at a time to nothing, with an event and
    the dashboard's rows in the tables, then up again: the models' schema once more."""
    from app.accounts import services as accounts
    from app.orgs import services as orgs
    from app.trail import services as trail

    with scratch_app.app_context():
        upgrade()
        assert inspect(db.engine).has_table("events", schema=current_schema())
        user = accounts.create_user("ann@example.com", "correct horse battery")
        org = orgs.create_organization("Acme", admin=user, actor=None)
        trail.record(org.id, "dashboard.organization_created", user)
        db.session.commit()
        db.session.remove()
        for revision in reversed(REVISIONS[:-1]):
            downgrade(revision=revision)
        downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names(schema=current_schema())) <= {
            "alembic_version"
        }
        upgrade()
        assert schema_differences() == []
        db.engine.dispose()


def test_upgrading_fills_search_text_and_the_full_text_index(tmp_path):
    """Events stored before search_text get it from their rows (action, actor name, the
    non-empty target names in position order), verify, and are found by free text
    (SQLite: a fresh file is the old database)."""
    import json

    from flask_migrate import upgrade
    from sqlalchemy import select, text

    from app import create_app
    from app.integrity import verify
    from app.ledger.models import Event
    from app.ledger.search import SEPARATOR, candidate_ids

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'old.db'}",
            "SECRET_KEY": "x",
            "RETENTION_PURGE": "off",
        }
    )
    targets = [
        {"type": "team", "id": "t0", "name": "Zeta Team"},
        {"type": "team", "id": "t1", "name": ""},
        {"type": "doc", "id": "t2"},
        {"type": "doc", "id": "t3", "name": "Alpha Plan"},
    ]
    event = {
        "action": "user.signed_in",
        "occurred_at": "2022-08-29T19:47:52.336Z",
        "actor": {"type": "user", "id": "u1", "name": "Ann"},
        "targets": targets,
        "context": {"location": "1.2.3.4"},
    }
    with app.app_context():
        upgrade(revision="9a4e6c1b2d3f")
        with db.engine.begin() as connection:
            connection.execute(
                text("INSERT INTO organizations (id, name, created_at) VALUES ('o', 'o', :t)"),
                {"t": "2026-01-01 00:00:00"},
            )
            connection.execute(
                text(
                    "INSERT INTO events (id, organization_id, action, version, occurred_at, "
                    "received_at, actor_type, actor_id, actor_name, location, user_agent, "
                    "payload) VALUES ('evt_1', 'o', 'user.signed_in', 1, "
                    "'2022-08-29 19:47:52.336000', '2026-01-01 00:00:00.000000', 'user', 'u1', "
                    "'Ann', '1.2.3.4', NULL, :payload)"
                ),
                {"payload": json.dumps(event)},
            )
            for position in reversed(range(len(targets))):  # rows not in position order
                target = targets[position]
                connection.execute(
                    text(
                        "INSERT INTO event_targets (event_id, organization_id, position, type, "
                        "target_id, name, occurred_at) VALUES ('evt_1', 'o', :position, :type, "
                        ":id, :name, '2022-08-29 19:47:52.336000')"
                    ),
                    {**target, "name": target.get("name"), "position": position},
                )
        upgrade()
        stored = db.session.scalar(select(Event.search_text))
        assert stored == SEPARATOR.join(["user.signed_in", "Ann", "Zeta Team", "Alpha Plan"])
        assert verify.verify_chain("o").ok
        assert candidate_ids(db.session, "o", "alpha pl", 10, "sqlite") == {"evt_1"}
        db.session.remove()
        db.engine.dispose()


def test_upgrading_fills_event_hours_as_the_append_path_does(scratch_app):
    """The event_hours migration computes, from the stored events, the spans that
    appending them wrote (floored UTC hours, before 1970 too), on either database."""
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import select

    from app import database as writes
    from app.accounts import services as accounts
    from app.ledger.append import accepted_rows, append_rows
    from app.ledger.models import EventHour
    from app.ledger.shape import parse_event
    from app.orgs import services as orgs
    from app.timestamps import utcnow

    moments = [
        "2022-08-29T19:47:52.336Z",
        "1969-12-31T23:30:00.500Z",
        "2022-08-29T20:00:00.000Z",
        "2022-08-29T19:59:59.999Z",
        "2022-08-29T19:00:00.000+02:00",  # 17:00 UTC
        "1969-12-31T22:59:59.999Z",
    ]
    with scratch_app.app_context():
        upgrade()
        user = accounts.create_user("ann@example.com", "correct horse battery")
        org = orgs.create_organization("Acme", admin=user, actor=None)
        db.session.commit()
        raws = [
            {
                "action": "user.signed_in",
                "occurred_at": moment,
                "actor": {"type": "user", "id": "u1"},
                "targets": [],
                "context": {"location": "1.2.3.4"},
            }
            for moment in moments
        ]
        for raw in raws:  # one event per transaction: every span is widened in place too
            with writes.writes():
                rows, targets = accepted_rows(org.id, [(raw, parse_event(raw))], utcnow())
                append_rows(db.session.connection(), rows, targets)

        def spans():
            return db.session.execute(
                select(EventHour.hour, EventHour.first_seq, EventHour.last_seq)
                .where(EventHour.organization_id == org.id)
                .order_by(EventHour.hour)
            ).all()

        appended = spans()
        db.session.remove()
        assert appended == [(-2, 6, 6), (-1, 2, 2), (461609, 5, 5), (461611, 1, 4), (461612, 3, 3)]
        downgrade(revision=REVISIONS[-2])
        upgrade()
        assert spans() == appended
        db.session.remove()
        db.engine.dispose()
