"""The dashboard audits itself: each action people take there is an event in the
organization's own log, with the person as actor and their address and browser as context."""

import json

import pytest
from sqlalchemy import select

from app.extensions import db
from app.integrity import services as integrity
from app.integrity import verify
from app.keys.models import ApiKey
from app.ledger.models import Event
from app.orgs.models import Membership, Role
from app.service_errors import Conflict
from tests.conftest import PASSWORD

USER_AGENT = "TrailTest/1.0 (like a browser)"


@pytest.fixture
def client(app):
    """A test client that sends a browser-like User-Agent."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = USER_AGENT
    return client


def dashboard_events(app, org_id):
    """The organization's built-in events, oldest first, as stored (payload dicts)."""
    with app.app_context():
        payloads = db.session.scalars(
            select(Event.payload)
            .where(Event.organization_id == org_id, Event.action.startswith("dashboard."))
            .order_by(Event.seq)
        ).all()
    return [json.loads(payload) for payload in payloads]


def last_event(app, org_id, action):
    found = [event for event in dashboard_events(app, org_id) if event["action"] == action]
    assert found, f"no {action} event in {[e['action'] for e in dashboard_events(app, org_id)]}"
    return found[-1]


def user_id(app, email):
    from app.accounts.services import find_user

    with app.app_context():
        return find_user(email).id


def assert_by(app, event, email):
    """The actor is the dashboard user and the context their address and browser."""
    assert event["actor"] == {"type": "dashboard_user", "id": user_id(app, email), "name": email}
    assert event["context"] == {"location": "127.0.0.1", "user_agent": USER_AGENT}


def test_signing_in_and_out_is_recorded_in_every_organization_of_the_user(
    app, auth, make_org, make_user
):
    first, second, other = make_org("First"), make_org("Second"), make_org("Other")
    make_user("ann@example.com", first, Role.ADMIN)
    make_user("ann@example.com", second, Role.VIEWER)
    assert auth.login("ann@example.com").status_code == 303
    assert auth.logout().status_code == 303
    for org_id in (first, second):
        actions = [event["action"] for event in dashboard_events(app, org_id)]
        assert actions == ["dashboard.signed_in", "dashboard.signed_out"]
        assert_by(app, last_event(app, org_id, "dashboard.signed_in"), "ann@example.com")
        assert_by(app, last_event(app, org_id, "dashboard.signed_out"), "ann@example.com")
    assert dashboard_events(app, other) == []


def test_a_failed_sign_in_is_recorded_for_a_known_email_only(app, auth, make_org, make_user):
    org_id = make_org()
    make_user("ann@example.com", org_id)
    assert auth.login("ann@example.com", "wrong password!").status_code == 422
    assert auth.login("nobody@example.com", PASSWORD).status_code == 422
    events = dashboard_events(app, org_id)
    assert [event["action"] for event in events] == ["dashboard.sign_in_failed"]
    assert_by(app, events[0], "ann@example.com")
    assert events[0]["metadata"] == {"reason": "wrong_password"}
    with app.app_context():
        assert db.session.scalar(select(Event.id).where(Event.organization_id != org_id)) is None


def test_member_changes_are_recorded_with_the_member_as_target(app, auth, org_admin):
    response = auth.post(
        f"/orgs/{org_admin}/members",
        {"email": "bob@example.com", "role": "viewer", "password": "a long initial password"},
    )
    assert response.status_code == 303
    bob = user_id(app, "bob@example.com")
    added = last_event(app, org_admin, "dashboard.member_added")
    assert_by(app, added, "admin@example.com")
    assert added["targets"] == [
        {
            "type": "dashboard_user",
            "id": bob,
            "name": "bob@example.com",
            "metadata": {"role": "viewer"},
        }
    ]
    with app.app_context():
        membership_id = db.session.scalar(select(Membership.id).where(Membership.user_id == bob))
    auth.post(f"/orgs/{org_admin}/members/{membership_id}/role", {"role": "admin"})
    changed = last_event(app, org_admin, "dashboard.member_role_changed")
    assert changed["metadata"] == {"role": "admin", "previous_role": "viewer"}
    assert changed["targets"][0]["id"] == bob
    auth.post(f"/orgs/{org_admin}/members/{membership_id}/remove")
    removed = last_event(app, org_admin, "dashboard.member_removed")
    assert removed["targets"][0]["metadata"] == {"role": "admin"}
    assert_by(app, removed, "admin@example.com")


def test_a_refused_change_records_nothing(app, auth, org_admin):
    with app.app_context():
        own = db.session.scalar(select(Membership.id))
    auth.post(f"/orgs/{org_admin}/members/{own}/role", {"role": "viewer"})  # the last admin
    actions = [event["action"] for event in dashboard_events(app, org_admin)]
    assert "dashboard.member_role_changed" not in actions


def test_schema_changes_are_recorded(app, auth, org_admin):
    new = auth.post(
        f"/orgs/{org_admin}/schemas/new", {"name": "invoice.paid", "targets-0-type": "invoice"}
    )
    assert new.status_code == 303
    created = last_event(app, org_admin, "dashboard.schema_created")
    assert created["targets"] == [{"type": "action", "id": "invoice.paid", "name": "invoice.paid"}]
    assert created["metadata"] == {"version": 1}
    edit_url = f"/orgs/{org_admin}/schemas/actions/invoice.paid/edit"
    auth.post(edit_url, {"targets-0-type": "invoice", "targets-1-type": "team"})
    auth.post(edit_url, {"targets-0-type": "invoice", "targets-1-type": "team"})  # unchanged
    updates = [
        e for e in dashboard_events(app, org_admin) if e["action"] == "dashboard.schema_updated"
    ]
    assert [e["metadata"] for e in updates] == [{"version": 2}]
    assert_by(app, updates[0], "admin@example.com")


def test_api_key_creation_and_revocation_are_recorded(app, auth, org_admin):
    response = auth.post(f"/orgs/{org_admin}/settings/api-keys", {"name": "Billing"})
    assert response.status_code == 201
    with app.app_context():
        key = db.session.scalar(select(ApiKey))
        key_id, prefix = key.id, key.prefix
    created = last_event(app, org_admin, "dashboard.api_key_created")
    assert created["targets"] == [
        {"type": "api_key", "id": key_id, "name": "Billing", "metadata": {"prefix": prefix}}
    ]
    assert "sk_" not in json.dumps(created).replace(prefix, "")  # never the secret
    auth.post(f"/orgs/{org_admin}/settings/api-keys/{key_id}/revoke")
    auth.post(f"/orgs/{org_admin}/settings/api-keys/{key_id}/revoke")  # already revoked
    revoked = [
        e for e in dashboard_events(app, org_admin) if e["action"] == "dashboard.api_key_revoked"
    ]
    assert len(revoked) == 1
    assert_by(app, revoked[0], "admin@example.com")


def test_retention_changes_are_recorded(app, client, auth, org_admin):
    page = client.get(f"/orgs/{org_admin}/settings/retention").get_data(as_text=True)
    assert "events are kept forever" in page
    response = auth.post(
        f"/orgs/{org_admin}/settings/retention", {"retention_period_in_days": "365"}
    )
    assert response.status_code == 303
    changed = last_event(app, org_admin, "dashboard.retention_changed")
    assert changed["metadata"] == {"retention_period_in_days": 365}
    assert_by(app, changed, "admin@example.com")
    auth.post(f"/orgs/{org_admin}/settings/retention", {"retention_period_in_days": "30"})
    changed = last_event(app, org_admin, "dashboard.retention_changed")
    assert changed["metadata"] == {
        "retention_period_in_days": 30,
        "previous_retention_period_in_days": 365,
    }
    page = client.get(f"/orgs/{org_admin}/settings/retention").get_data(as_text=True)
    assert "Events are kept for <strong>30 days</strong>" in page


@pytest.mark.parametrize("value", ["31", "0", "forever", ""])
def test_a_period_that_is_not_offered_is_refused_inline(app, auth, org_admin, value):
    response = auth.post(
        f"/orgs/{org_admin}/settings/retention", {"retention_period_in_days": value}
    )
    assert response.status_code == 422
    assert "Not a valid choice" in response.get_data(as_text=True)
    with app.app_context():
        from app.orgs.services import get_organization

        assert get_organization(org_admin).retention_period_in_days is None
    assert dashboard_events(app, org_admin) == []


def test_renaming_the_organization_is_recorded(app, auth, org_admin):
    auth.post(f"/orgs/{org_admin}/settings", {"name": "Acme Corp"})
    renamed = last_event(app, org_admin, "dashboard.organization_renamed")
    assert renamed["targets"] == [{"type": "organization", "id": org_admin, "name": "Acme Corp"}]
    assert renamed["metadata"] == {"previous_name": "Acme"}


def assert_verification_recorded(app, client, auth, org_admin, state, shown):
    """Start a verification from the Integrity tab: its run ends in ``state``, an event
    records it with that result, and the tab says ``shown``."""
    response = auth.post(f"/orgs/{org_admin}/integrity/verify")
    assert response.status_code == 303
    integrity.wait_for_runs(app)
    with app.app_context():
        run = integrity.recent_runs(org_admin)[0]
        run_id, run_state = run.id, run.state
    assert run_state == state
    recorded = last_event(app, org_admin, "dashboard.integrity_verified")
    assert recorded["targets"] == [{"type": "verification_run", "id": run_id}]
    assert recorded["metadata"]["result"] == state
    assert_by(app, recorded, "admin@example.com")
    page = client.get(f"/orgs/{org_admin}/integrity").get_data(as_text=True)
    assert shown in page


def test_a_verification_run_is_recorded_with_its_result(app, client, auth, org_admin):
    assert_verification_recorded(app, client, auth, org_admin, "passed", "Intact.")


def test_a_verification_run_that_errors_is_recorded(app, client, auth, org_admin, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(verify, "verify_chain", broken)
    assert_verification_recorded(
        app, client, auth, org_admin, "error", "The last verification did not finish."
    )


def test_a_refused_start_shows_the_run_that_finished_meanwhile(
    app, client, auth, org_admin, monkeypatch
):
    """A run is refused because one is running, which finishes before the page is drawn."""
    auth.post(f"/orgs/{org_admin}/integrity/verify")
    integrity.wait_for_runs(app)

    def running_then_finished(_org, _user):
        raise Conflict("A verification of this log is already running.")

    monkeypatch.setattr(integrity, "create_run", running_then_finished)
    response = auth.post(f"/orgs/{org_admin}/integrity/verify", headers={"HX-Request": "true"})
    assert response.status_code == 202
    assert "Intact." in response.get_data(as_text=True)


def test_dashboard_events_are_in_the_chain_and_the_viewer(app, client, auth, org_admin):
    auth.post(f"/orgs/{org_admin}/settings/api-keys", {"name": "Billing <script>"})
    with app.app_context():
        assert verify.verify_chain(org_admin).ok
    page = client.get(f"/orgs/{org_admin}/events").get_data(as_text=True)
    assert "dashboard.api_key_created" in page
    assert "Billing &lt;script&gt;" in page
    assert 'value="dashboard.retention_changed"' in page  # selectable before it happens
    filtered = client.get(f"/orgs/{org_admin}/events?action=dashboard.api_key_created")
    assert filtered.status_code == 200
    assert "dashboard.signed_in" not in filtered.get_data(as_text=True).split("<tbody")[-1]


@pytest.mark.parametrize("action", ["dashboard.signed_in", "Dashboard.signed_in"])
def test_the_api_cannot_claim_or_forge_built_in_actions(api, action):
    response = api.post(f"/audit_logs/actions/{action}/schemas", {"targets": [{"type": "user"}]})
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["code"] == "reserved"
    event = {
        "action": "dashboard.signed_in",
        "occurred_at": "2026-01-01T00:00:00Z",
        "actor": {"type": "dashboard_user", "id": "user_1"},
        "targets": [],
        "context": {"location": "1.2.3.4"},
    }
    forged = api.post("/audit_logs/events", {"organization_id": api.org_id, "event": event})
    assert forged.status_code == 400


def test_the_dashboard_cannot_create_a_built_in_action_either(app, auth, org_admin):
    response = auth.post(
        f"/orgs/{org_admin}/schemas/new", {"name": "dashboard.x", "targets-0-type": "user"}
    )
    assert response.status_code == 422
    assert "reserved" in response.get_data(as_text=True)


def test_another_organizations_integrity_pages_are_404(app, client, auth, make_org, org_admin):
    other = make_org("Other")
    auth.post(f"/orgs/{org_admin}/integrity/verify")
    integrity.wait_for_runs(app)
    with app.app_context():
        run_id = integrity.recent_runs(org_admin)[0].id
    for url in (
        f"/orgs/{other}/integrity",
        f"/orgs/{other}/integrity/runs/{run_id}",
        f"/orgs/{other}/settings/retention",
    ):
        assert client.get(url).status_code == 404
    assert auth.post(f"/orgs/{other}/integrity/verify").status_code == 404
    assert client.get(f"/orgs/{org_admin}/integrity/runs/evt_nope").status_code == 404


def test_viewers_verify_but_do_not_change_retention(app, client, auth, make_org, make_user):
    org_id = make_org()
    make_user("admin@example.com", org_id)
    make_user("viewer@example.com", org_id, Role.VIEWER)
    auth.login("viewer@example.com")
    assert client.get(f"/orgs/{org_id}/integrity").status_code == 200
    assert client.get(f"/orgs/{org_id}/settings/retention").status_code == 403
    assert auth.post(f"/orgs/{org_id}/integrity/verify").status_code == 303
    integrity.wait_for_runs(app)
    assert_by(app, last_event(app, org_id, "dashboard.integrity_verified"), "viewer@example.com")


def test_export_creation_and_download_are_recorded(app, auth, org_admin, make_events):
    from app.exports import services as exports
    from tests.filter_cases import WORLD

    make_events(org_admin, *WORLD)
    response = auth.post(
        f"/orgs/{org_admin}/exports",
        {"format": "ndjson", "action": "user.signed_in", "range": "30d"},
    )
    assert response.status_code == 303
    with app.app_context():
        export = exports.run_next_export()
        export_id, name = export.id, exports.download_name(export)
    created = last_event(app, org_admin, "dashboard.export_created")
    assert_by(app, created, "admin@example.com")
    assert created["targets"] == [{"type": "audit_log_export", "id": export_id, "name": name}]
    assert created["metadata"]["format"] == "ndjson"
    assert "action=user.signed_in" in created["metadata"]["filters"]
    download = auth.client.get(f"/orgs/{org_admin}/exports/{export_id}/download")
    assert download.status_code == 200
    download.close()
    downloaded = last_event(app, org_admin, "dashboard.export_downloaded")
    assert_by(app, downloaded, "admin@example.com")
    assert downloaded["targets"] == created["targets"]
    assert downloaded["metadata"]["rows"] == 2


# Changes through the API and the command line land in the log too, with their door.


def api_key_actor(app, secret):
    from app.keys import services as keys

    with app.app_context():
        key = db.session.get(ApiKey, keys.authenticate(secret).id)
        return {"type": "api_key", "id": key.id, "name": key.name}


def test_schema_and_retention_changes_through_the_api_are_recorded_with_the_key(app, api):
    created = api.post("/audit_logs/actions/invoice.paid/schemas", {"targets": [{"type": "x"}]})
    assert created.status_code == 201
    again = api.post("/audit_logs/actions/invoice.paid/schemas", {"targets": [{"type": "x"}]})
    assert again.status_code == 200  # identical: no version, nothing recorded
    api.post("/audit_logs/actions/invoice.paid/schemas", {"targets": [{"type": "y"}]})
    response = api.put(
        f"/organizations/{api.org_id}/audit_logs_retention", {"retention_period_in_days": 60}
    )
    assert response.status_code == 200
    actor = api_key_actor(app, api.secret)
    events = dashboard_events(app, api.org_id)
    assert [e["action"] for e in events] == [
        "dashboard.schema_created",
        "dashboard.schema_updated",
        "dashboard.retention_changed",
    ]
    assert all(e["actor"] == actor for e in events)
    assert events[1]["targets"] == [
        {"type": "action", "id": "invoice.paid", "name": "invoice.paid"}
    ]
    assert events[1]["metadata"] == {"version": 2}
    assert events[2]["metadata"]["retention_period_in_days"] == 60
    assert events[0]["context"]["location"] == "127.0.0.1"


def test_a_refused_api_change_records_nothing(app, api):
    bad = api.post("/audit_logs/actions/invoice.paid/schemas", {"targets": "nope"})
    assert bad.status_code == 422
    response = api.put(
        f"/organizations/{api.org_id}/audit_logs_retention", {"retention_period_in_days": 7}
    )
    assert response.status_code == 422
    assert dashboard_events(app, api.org_id) == []


def test_an_api_export_is_recorded_with_the_key(app, api):
    response = api.post(
        "/audit_logs/exports",
        {
            "organization_id": api.org_id,
            "range_start": "2000-01-01T00:00:00.000Z",
            "range_end": "2100-01-01T00:00:00.000Z",
        },
    )
    assert response.status_code == 201
    event = last_event(app, api.org_id, "dashboard.export_created")
    assert event["actor"] == api_key_actor(app, api.secret)
    assert event["targets"][0]["id"] == response.get_json()["id"]


def test_key_changes_from_the_command_line_are_recorded_with_the_os_user(
    app, runner, make_org, monkeypatch
):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-alice")
    org_id = make_org()
    created = runner.invoke(args=["keys", "create", "--org", org_id, "--name", "Nightly"])
    assert created.exit_code == 0, created.output
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id))
    revoked = runner.invoke(args=["keys", "revoke", key_id, "--org", org_id])
    assert revoked.exit_code == 0, revoked.output
    events = dashboard_events(app, org_id)
    assert [e["action"] for e in events] == [
        "dashboard.api_key_created",
        "dashboard.api_key_revoked",
    ]
    cli = {"type": "cli", "id": "ops-alice", "name": "ops-alice"}
    assert all(e["actor"] == cli for e in events)
    assert events[0]["targets"][0]["name"] == "Nightly"
    assert events[0]["context"] == {"location": "unknown", "user_agent": "auditlog-cli"}


def test_organizations_and_members_made_from_the_command_line_are_recorded(
    app, runner, monkeypatch
):
    monkeypatch.setattr("getpass.getuser", lambda: "ops-bob")
    created = runner.invoke(args=["orgs", "create", "Initech"])
    assert created.exit_code == 0, created.output
    org_id = created.output.strip()
    result = runner.invoke(
        args=["users", "create", "pat@example.com", "--org", org_id, "--role", "viewer"],
        input=f"{PASSWORD}\n{PASSWORD}\n",
    )
    assert result.exit_code == 0, result.output
    events = dashboard_events(app, org_id)
    assert [e["action"] for e in events] == [
        "dashboard.organization_created",
        "dashboard.member_added",
    ]
    cli = {"type": "cli", "id": "ops-bob", "name": "ops-bob"}
    assert all(e["actor"] == cli for e in events)
    assert events[1]["targets"][0]["name"] == "pat@example.com"
