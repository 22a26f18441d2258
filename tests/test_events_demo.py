"""``flask demo seed``: realistic events that the configured schemas accept."""

import json
from datetime import timedelta

from sqlalchemy import func, select

from app.extensions import db
from app.ledger.models import Event
from app.schemas.services import event_problems
from app.timestamps import utcnow


def test_demo_seed_stores_realistic_valid_events(app, runner, api_org):
    result = runner.invoke(args=["demo", "seed", "--org", api_org, "--events", "600"])
    assert result.exit_code == 0, result.output
    assert "Stored 600 events" in result.output
    with app.app_context():
        events = db.session.scalars(select(Event).where(Event.organization_id == api_org)).all()
        assert len(events) == 600
        assert len({e.action for e in events}) >= 8
        assert len({e.actor_id for e in events}) >= 100
        assert len({t.type for e in events for t in e.targets}) >= 4
        oldest = db.session.scalar(select(func.min(Event.occurred_at)))
        assert utcnow() - timedelta(days=93) < oldest < utcnow() - timedelta(days=60)
        for event in events[:100]:
            assert event_problems(api_org, json.loads(event.payload)) == []


def test_demo_seed_needs_a_known_organization(runner, api_org):
    result = runner.invoke(args=["demo", "seed", "--org", "org_nope", "--events", "5"])
    assert result.exit_code != 0
    assert "No organization org_nope" in result.output
