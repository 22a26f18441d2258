"""Idempotency-Key: replays answer the same and store nothing; reuse with another body is 409."""

import json
import threading
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from app.extensions import db
from app.ingest.models import IdempotencyRecord
from app.ledger.models import Event
from app.timestamps import utcnow
from tests.conftest import seed_event

# The events the test sent, not the built-in ones its schema and key changes recorded.
SENT = Event.action.not_like("dashboard.%")


def count_events(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).where(SENT))


def test_a_repeat_replays_the_first_answer_and_stores_nothing(app, api, api_org, seed_schema):
    body = {"organization_id": api_org, "event": seed_event()}
    headers = {"Idempotency-Key": "abc-123"}
    first = api.post("/audit_logs/events", body, headers=headers)
    again = api.post("/audit_logs/events", body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.get_json() == again.get_json() == {"success": True}
    assert count_events(app) == 1


def test_the_same_body_with_other_key_order_is_the_same_request(app, api, api_org, seed_schema):
    body = {"organization_id": api_org, "event": seed_event()}
    headers = {"Idempotency-Key": "abc-123", "Content-Type": "application/json"}
    api.post("/audit_logs/events", body, headers={"Idempotency-Key": "abc-123"})
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)
    response = api.post("/audit_logs/events", data=reordered, headers=headers)
    assert response.status_code == 200
    assert count_events(app) == 1


def test_the_same_key_with_another_body_is_409(app, api, api_org, seed_schema):
    headers = {"Idempotency-Key": "abc-123"}
    api.post(
        "/audit_logs/events", {"organization_id": api_org, "event": seed_event()}, headers=headers
    )
    other = seed_event(actor={"type": "user", "id": "someone_else"})
    response = api.post(
        "/audit_logs/events", {"organization_id": api_org, "event": other}, headers=headers
    )
    assert response.status_code == 409
    assert response.get_json()["code"] == "idempotency_key_reused"
    assert count_events(app) == 1


def test_batches_are_idempotent_too(app, api, api_org, seed_schema):
    body = {"organization_id": api_org, "events": [seed_event(), seed_event()]}
    for _ in range(3):
        response = api.post("/audit_logs/events/batch", body, headers={"Idempotency-Key": "b-1"})
        assert response.get_json() == {"success": True, "count": 2}
    assert count_events(app) == 2


def test_keys_expire_after_24_hours(app, api, api_org, seed_schema):
    body = {"organization_id": api_org, "event": seed_event()}
    api.post("/audit_logs/events", body, headers={"Idempotency-Key": "old"})
    with app.app_context():
        db.session.execute(
            update(IdempotencyRecord).values(created_at=utcnow() - timedelta(hours=25))
        )
        db.session.commit()
    assert (
        api.post("/audit_logs/events", body, headers={"Idempotency-Key": "old"}).status_code == 200
    )
    assert count_events(app) == 2


def test_keys_are_per_organization(app, api, api_org, client, make_org, make_key, seed_schema):
    from tests.conftest import ApiClient

    other_org = make_org("Globex")
    other = ApiClient(client, make_key(other_org))
    other.post("/audit_logs/actions/user.signed_in/schemas", {"targets": [{"type": "team"}]})
    api.post(
        "/audit_logs/events",
        {"organization_id": api_org, "event": seed_event()},
        headers={"Idempotency-Key": "k"},
    )
    response = other.post(
        "/audit_logs/events",
        {"organization_id": other_org, "event": seed_event()},
        headers={"Idempotency-Key": "k"},
    )
    assert response.status_code == 200
    assert count_events(app) == 2


def test_failed_requests_are_not_remembered(app, api, api_org, seed_schema):
    headers = {"Idempotency-Key": "retry-me"}
    bad = api.post(
        "/audit_logs/events",
        {"organization_id": api_org, "event": seed_event(action="x.y")},
        headers=headers,
    )
    assert bad.status_code == 400
    good = api.post(
        "/audit_logs/events", {"organization_id": api_org, "event": seed_event()}, headers=headers
    )
    assert good.status_code == 200


def test_an_overlong_key_is_422(api, api_org, seed_schema):
    response = api.post(
        "/audit_logs/events",
        {"organization_id": api_org, "event": seed_event()},
        headers={"Idempotency-Key": "k" * 256},
    )
    assert response.status_code == 422


def test_twenty_concurrent_requests_with_one_key_store_one_event(
    app, api, api_org, seed_schema, live_server
):
    """Real concurrency: 20 threads, each its own HTTP connection, released together."""
    body = {"organization_id": api_org, "event": seed_event()}
    headers = {"Authorization": f"Bearer {api.secret}", "Idempotency-Key": "same-key"}
    start = threading.Barrier(20)
    answers = []

    def send():
        start.wait()
        response = httpx.post(
            f"{live_server.url}/audit_logs/events", json=body, headers=headers, timeout=60
        )
        answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [(200, {"success": True})] * 20
    assert count_events(app) == 1
