"""API keys on the API: 401 for every bad key, rate limits, last use."""

import pytest

from app.extensions import db
from app.keys import services as keys
from app.keys.models import ApiKey
from tests.conftest import ApiClient, seed_event

ENDPOINTS = [
    ("post", "/audit_logs/events"),
    ("post", "/audit_logs/events/batch"),
    ("get", "/audit_logs/actions"),
    ("get", "/audit_logs/actions/user.signed_in/schemas"),
    ("post", "/audit_logs/actions/user.signed_in/schemas"),
    ("get", "/organizations/{org}/audit_logs_retention"),
    ("put", "/organizations/{org}/audit_logs_retention"),
    ("get", "/organizations/{org}/audit_log_configuration"),
]


def call(client, method, path, headers):
    return getattr(client, method)(path, json={}, headers=headers)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic abc", "Bearer sk_unknown", "Bearer not-a-key", "sk_x"],
)
def test_missing_malformed_or_unknown_keys_get_401(client, api_org, method, path, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = call(client, method, path.format(org=api_org), headers)
    assert response.status_code == 401
    assert response.get_json() == {"message": "Unauthorized", "code": "unauthorized"}


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_revoked_keys_get_401(app, client, api_org, make_key, method, path):
    secret = make_key(api_org)
    with app.app_context():
        keys.revoke_key(db.session.get(ApiKey, keys.authenticate(secret).id), actor=None)
        db.session.commit()
    response = call(client, method, path.format(org=api_org), {"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401


def test_a_valid_key_records_its_last_use(app, api):
    assert api.get("/audit_logs/actions").status_code == 200
    with app.app_context():
        key = db.session.scalars(db.select(ApiKey)).one()
        assert key.last_used_at is not None


def test_rate_limit_per_key_answers_429_with_retry_after(
    app, client, api_org, make_key, seed_schema
):
    app.config["API_RATE_LIMIT"] = "3 per 60 seconds"
    limited = ApiClient(client, make_key(api_org, "limited"))
    for _ in range(3):
        assert limited.get("/audit_logs/actions").status_code == 200
    response = limited.post(
        "/audit_logs/events", {"organization_id": api_org, "event": seed_event()}
    )
    assert response.status_code == 429
    assert response.get_json() == {"message": "Too many requests.", "code": "rate_limit_exceeded"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another key of the same organization has its own allowance.
    other = ApiClient(client, make_key(api_org, "other"))
    assert other.get("/audit_logs/actions").status_code == 200


def test_openapi_needs_no_key(client, api_org):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.1")


def test_unknown_api_route_is_json_404(api):
    response = api.get("/audit_logs/nothing-here")
    assert response.status_code == 404
    assert response.is_json


def test_wrong_method_is_json_405(api):
    response = api.client.delete("/audit_logs/events", headers=api.headers())
    assert response.status_code == 405
    assert response.get_json()["code"] == "method_not_allowed"


def test_in_memory_windows_open_at_the_first_request_and_last_the_period():
    from limits import parse

    from app.api.auth import LocalWindows

    now = [1000.0]
    windows = LocalWindows(parse("2 per 60 seconds"), clock=lambda: now[0])
    assert windows.hit("key_a") is None
    now[0] += 10
    assert windows.hit("key_a") is None
    assert windows.hit("key_a") == 50  # the window opened at the first request
    assert windows.hit("key_b") is None  # each key counts on its own
    now[0] += 50
    assert windows.hit("key_a") is None  # a new window


def test_windows_in_a_shared_storage_answer_as_the_in_memory_ones():
    """The ``limits`` storage path (Redis in production), here on its memory storage."""
    from limits import parse

    from app.api.auth import StoredWindows

    windows = StoredWindows(parse("2 per 60 seconds"), "memory://")
    assert windows.hit("key_a") is None
    assert windows.hit("key_a") is None
    assert 0 < windows.hit("key_a") <= 60
    assert windows.hit("key_b") is None
