"""Retention and configuration endpoints."""

import pytest

from tests.conftest import ApiClient


def test_retention_starts_unset(api, api_org):
    response = api.get(f"/organizations/{api_org}/audit_logs_retention")
    assert response.status_code == 200
    assert response.get_json() == {"retention_period_in_days": None}


@pytest.mark.parametrize(
    ("body", "days"),
    [
        ({"retention_period_in_days": 30}, 30),
        ({"retention_period_in_days": 330}, 330),
        ({"retention_period_in_days": 3650}, 3650),
        ({"retention_period": "1_MONTH"}, 30),
        ({"retention_period": "11_MONTHS"}, 330),
        ({"retention_period": "1_YEAR"}, 365),
        ({"retention_period": "10_YEARS"}, 3650),
    ],
)
def test_set_retention_in_either_form(api, api_org, body, days):
    response = api.put(f"/organizations/{api_org}/audit_logs_retention", body)
    assert response.status_code == 200
    assert response.get_json() == {"retention_period_in_days": days}
    assert api.get(f"/organizations/{api_org}/audit_logs_retention").get_json() == {
        "retention_period_in_days": days
    }


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"retention_period_in_days": 31},
        {"retention_period_in_days": 360},
        {"retention_period_in_days": "30"},
        {"retention_period_in_days": True},
        {"retention_period_in_days": None},
        {"retention_period": "12_MONTHS"},
        {"retention_period": "forever"},
        {"retention_period_in_days": 30, "retention_period": "1_MONTH"},
        {"retention_period_in_days": 30, "other": 1},
        [],
    ],
)
def test_invalid_retention_is_422_and_changes_nothing(api, api_org, body):
    api.put(f"/organizations/{api_org}/audit_logs_retention", {"retention_period_in_days": 60})
    response = api.put(f"/organizations/{api_org}/audit_logs_retention", body)
    assert response.status_code == 422
    assert response.get_json()["code"] == "validation_failed"
    assert api.get(f"/organizations/{api_org}/audit_logs_retention").get_json() == {
        "retention_period_in_days": 60
    }


def test_configuration(api, api_org):
    api.put(f"/organizations/{api_org}/audit_logs_retention", {"retention_period": "2_YEARS"})
    assert api.get(f"/organizations/{api_org}/audit_log_configuration").get_json() == {
        "organization_id": api_org,
        "retention_period_in_days": 730,
        "state": "active",
    }


def test_configuration_reports_keep_forever_as_the_longest_period(api, api_org):
    """Typed SDKs (Rust's, Node's types) need an integer; the retention endpoint says null."""
    assert api.get(f"/organizations/{api_org}/audit_logs_retention").get_json() == {
        "retention_period_in_days": None
    }
    configuration = api.get(f"/organizations/{api_org}/audit_log_configuration").get_json()
    assert configuration["retention_period_in_days"] == 3650


def test_the_python_sdk_reads_the_configuration(live_server, api_org, make_key):
    from workos import WorkOSClient

    workos = WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )
    configuration = workos.organizations.get_audit_log_configuration(api_org)
    assert configuration.organization_id == api_org
    assert configuration.retention_period_in_days == 3650
    assert configuration.state == "active"
    assert configuration.log_stream is None


@pytest.mark.parametrize("path", ["audit_logs_retention", "audit_log_configuration"])
def test_another_organization_is_404(api, api_org, make_org, client, make_key, path):
    other = make_org("Globex")
    assert api.get(f"/organizations/{other}/{path}").status_code == 404
    assert api.get(f"/organizations/org_unknown/{path}").status_code == 404
    if path == "audit_logs_retention":
        response = api.put(f"/organizations/{other}/{path}", {"retention_period_in_days": 30})
        assert response.status_code == 404
        mine = ApiClient(client, make_key(other))
        assert mine.get(f"/organizations/{other}/{path}").get_json() == {
            "retention_period_in_days": None
        }


def test_configuration_carries_the_oldest_stream_that_is_not_disabled(app, api, api_org):
    from app import database
    from app.extensions import db
    from app.streams import services
    from app.streams.models import LogStream
    from tests.streams.helpers import make_stream

    first, _secret = make_stream(app, api_org, settings={"url": "https://siem.example/hook"})
    second, _secret = make_stream(app, api_org, settings={"url": "https://other.example/hook"})
    with app.app_context(), database.writes():
        row = db.session.get(LogStream, first)
        created_at = row.created_at
        services.pause_stream(row, actor=None)
    stream = api.get(f"/organizations/{api_org}/audit_log_configuration").get_json()["log_stream"]
    assert stream["id"] == second
    with app.app_context(), database.writes():
        services.resume_stream(db.session.get(LogStream, first), actor=None)
        db.session.get(LogStream, first).state = "failing"
    stream = api.get(f"/organizations/{api_org}/audit_log_configuration").get_json()["log_stream"]
    assert stream == {
        "id": first,
        "type": "GenericHttps",
        "state": "error",
        "created_at": created_at.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{created_at.microsecond // 1000:03d}Z",
        "last_synced_at": None,
    }


def test_the_python_sdk_reads_a_configured_stream(app, live_server, api_org, make_key):
    from workos import WorkOSClient

    from tests.streams.helpers import make_stream

    stream_id, _secret = make_stream(app, api_org, settings={"url": "https://siem.example/hook"})
    workos = WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )
    configuration = workos.organizations.get_audit_log_configuration(api_org)
    assert configuration.log_stream.id == stream_id
    assert configuration.log_stream.type == "GenericHttps"
    assert configuration.log_stream.state == "active"
    assert configuration.log_stream.last_synced_at is None
