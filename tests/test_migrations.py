"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from app.ledger.search import include_name


def test_migrated_schema_matches_the_models(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "render_as_batch": True, "include_name": include_name},
        )
        assert compare_metadata(context, db.metadata) == []


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
