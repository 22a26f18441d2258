"""Portal links through the API and a browser's session: generated, opened once, expiring,
revoked (by an admin, or by external_user_id), every use in the organization's log, and
what a portal visitor does recorded as theirs."""

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.exports import services as exports
from app.exports.models import Export, ExportDownload
from app.extensions import db
from app.orgs.models import Role
from app.portal.models import PortalLink
from app.timestamps import utcnow
from tests.conftest import ApiClient, csrf_token_from
from tests.portal.helpers import generate, link_for, metadata, open_portal, recorded


def links(app):
    with app.app_context():
        return db.session.scalars(select(PortalLink).order_by(PortalLink.created_at)).all()


def shift(app, **columns):
    """Move every link's times (the clock stays; the rows say 'later')."""
    with app.app_context():
        db.session.execute(update(PortalLink).values(**columns))
        db.session.commit()


def test_generate_link_answers_201_with_a_launch_link(app, api, api_org):
    response = generate(api, return_url="https://app.example.com/settings")
    assert response.status_code == 201
    assert list(response.get_json()) == ["link"]
    link = response.get_json()["link"]
    assert link.startswith("http://localhost/portal/launch?secret=")
    (row,) = links(app)
    assert row.organization_id == api_org and row.intent == "audit_logs"
    assert row.return_url == "https://app.example.com/settings"
    secret = link.split("secret=")[1]
    assert secret not in (row.secret_hash, row.id) and len(row.secret_hash) == 64
    assert row.open_by - row.created_at == timedelta(minutes=5)
    (event,) = recorded(app, api_org, "dashboard.portal_link_created")
    assert event.actor_type == "api_key"
    assert secret not in event.payload


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"intent": "audit_logs"}, "organization", "required"),
        ({"organization": "ORG", "intent": "sso"}, "intent", None),
        ({"organization": "ORG"}, "intent", "required"),
        (
            {"organization": "ORG", "intent": "audit_logs", "return_url": "javascript:alert(1)"},
            "return_url",
            "invalid_url",
        ),
        (
            {"organization": "ORG", "intent": "audit_logs", "success_url": "/relative"},
            "success_url",
            "invalid_url",
        ),
        (
            {"organization": "ORG", "intent": "audit_logs", "return_url": "https://u:p@x.example"},
            "return_url",
            "invalid_url",
        ),
        (
            {"organization": "ORG", "intent": "audit_logs", "external_user_id": ""},
            "external_user_id",
            None,
        ),
        (
            {"organization": "ORG", "intent": "audit_logs", "it_contact_emails": ["a@b.example"]},
            "it_contact_emails",
            "unsupported",
        ),
        ({"organization": "ORG", "intent": "audit_logs", "color": "red"}, "color", None),
        ({"organization": "ORG", "intent": 7}, "intent", None),
    ],
)
def test_bad_bodies_get_422_naming_the_field_and_make_nothing(app, api, api_org, body, field, code):
    body = {k: (api_org if v == "ORG" else v) for k, v in body.items()}
    response = api.post("/portal/generate_link", json=body)
    assert response.status_code == 422, response.get_json()
    problems = response.get_json()["errors"]
    assert field in [p["field"] for p in problems]
    if code:
        assert code in [p["code"] for p in problems if p["field"] == field]
    assert links(app) == []


def test_another_organizations_link_is_404_and_no_key_is_401(app, client, api, make_org):
    other = make_org("Globex")
    response = api.post(
        "/portal/generate_link", json={"organization": other, "intent": "audit_logs"}
    )
    assert response.status_code == 404
    assert client.post("/portal/generate_link", json={}).status_code == 401
    assert links(app) == []


def test_a_link_opens_once_into_its_organizations_events(app, client, api, api_org):
    path = link_for(api, external_user_id="it-admin-7")
    landing = client.get(path)
    assert landing.status_code == 303
    assert landing.headers["Location"] == f"/orgs/{api_org}/events"
    page = client.get(landing.headers["Location"]).get_data(as_text=True)
    assert "Acme" in page and "portal-bar" in page and "Sign out" not in page
    (opened,) = recorded(app, api_org, "dashboard.portal_opened")
    assert (opened.actor_type, opened.actor_name) == ("admin_portal", "it-admin-7")

    again = client.get(path)  # the same browser, or anyone else: the link is spent
    assert again.status_code == 403
    assert "already used" in again.get_data(as_text=True)
    assert app.test_client().get(path).status_code == 403
    refused = recorded(app, api_org, "dashboard.portal_link_refused")
    assert [metadata(e)["reason"] for e in refused] == ["already_used", "already_used"]


def test_an_unknown_secret_is_404_and_recorded_nowhere(app, client, api, api_org):
    assert client.get("/portal/launch?secret=nope").status_code == 404
    assert client.get("/portal/launch").status_code == 404
    assert recorded(app, api_org, "dashboard.portal_link_refused") == []


def test_a_link_not_opened_within_5_minutes_is_refused(app, client, api, api_org):
    path = link_for(api)
    shift(app, open_by=utcnow() - timedelta(seconds=1))
    response = client.get(path)
    assert response.status_code == 403
    assert "expired" in response.get_data(as_text=True)
    assert links(app)[0].opened_at is None
    assert [
        metadata(e)["reason"] for e in recorded(app, api_org, "dashboard.portal_link_refused")
    ] == ["expired"]


def test_a_session_ends_after_its_length(app, client, api, api_org):
    landing = open_portal(client, api, return_url="https://app.example.com/")
    assert client.get(landing.headers["Location"]).status_code == 200
    row = links(app)[0]
    assert row.session_expires_at - row.opened_at == timedelta(minutes=60)
    shift(app, session_expires_at=utcnow() - timedelta(seconds=1))
    gone = client.get(f"/orgs/{api_org}/events")
    assert gone.status_code == 303 and gone.headers["Location"] == "/portal/ended"
    ended = client.get("/portal/ended").get_data(as_text=True)
    assert "has ended" in ended and "https://app.example.com/" in ended
    assert client.get(f"/orgs/{api_org}/events").status_code == 302  # to sign-in: forgotten
    htmx = open_portal(client, api)
    shift(app, session_expires_at=utcnow() - timedelta(seconds=1))
    partial = client.get(f"/orgs/{api_org}/events", headers={"HX-Request": "true"})
    assert partial.status_code == 403 and partial.headers["HX-Redirect"] == "/portal/ended"
    assert htmx.status_code == 303


def test_the_session_length_is_configurable(app, client, api):
    app.config["PORTAL_SESSION_MINUTES"] = 15
    open_portal(client, api)
    row = links(app)[0]
    assert row.session_expires_at - row.opened_at == timedelta(minutes=15)


def test_opening_a_portal_signs_the_dashboard_user_out(app, client, auth, api, api_org):
    auth.login("admin@example.com")
    assert auth.signed_in()
    open_portal(client, api)
    assert not auth.signed_in()
    assert client.get("/login").status_code == 403  # no signing in from inside a portal


def test_leaving_ends_the_session_and_goes_back(app, client, api, api_org):
    landing = open_portal(client, api, return_url="https://app.example.com/back")
    page = client.get(landing.headers["Location"]).get_data(as_text=True)
    left = client.post("/portal/leave", data={"csrf_token": csrf_token_from(page)})
    assert left.status_code == 303 and left.headers["Location"] == "https://app.example.com/back"
    assert client.get(f"/orgs/{api_org}/events").status_code == 302
    assert links(app)[0].closed_at is not None
    assert len(recorded(app, api_org, "dashboard.portal_closed")) == 1


def test_leave_needs_the_csrf_token(app, client, api):
    open_portal(client, api)
    assert client.post("/portal/leave").status_code == 400
    assert links(app)[0].closed_at is None


def test_an_admin_revokes_a_running_session_from_the_dashboard(
    app, client, api, api_org, make_user
):
    visitor = app.test_client()
    landing = open_portal(visitor, api, external_user_id="ext-1")
    assert visitor.get(landing.headers["Location"]).status_code == 200

    from tests.conftest import AuthActions

    admin = AuthActions(client)
    admin.login("admin@example.com")
    page = client.get(f"/orgs/{api_org}/settings/portal-links").get_data(as_text=True)
    row = links(app)[0]
    assert row.id in page and "ext-1" in page and "active" in page
    response = admin.post(f"/orgs/{api_org}/settings/portal-links/{row.id}/revoke")
    assert response.status_code == 303
    assert visitor.get(f"/orgs/{api_org}/events").headers["Location"] == "/portal/ended"
    (revoked,) = recorded(app, api_org, "dashboard.portal_link_revoked")
    assert revoked.actor_type == "dashboard_user"


def test_revoke_link_by_external_user_id_ends_links_and_sessions(app, api, api_org):
    visitor = app.test_client()
    open_portal(visitor, api, external_user_id="leaver")
    unopened = link_for(api, external_user_id="leaver")
    kept = link_for(api, external_user_id="stayer")
    response = api.post(
        "/portal/revoke_link", json={"organization": api_org, "external_user_id": "leaver"}
    )
    assert response.status_code == 204
    assert visitor.get(f"/orgs/{api_org}/events").headers["Location"] == "/portal/ended"
    assert app.test_client().get(unopened).status_code == 403
    assert app.test_client().get(kept).status_code == 303
    assert len(recorded(app, api_org, "dashboard.portal_link_revoked")) == 2
    bad = api.post("/portal/revoke_link", json={"organization": api_org})
    assert bad.status_code == 422


def test_viewers_and_other_organizations_cannot_see_or_revoke_links(
    app, client, auth, api, api_org, make_org, make_user
):
    open_portal(app.test_client(), api)
    row = links(app)[0]
    make_user("viewer@example.com", api_org, Role.VIEWER)
    globex = make_org("Globex")
    make_user("boss@globex.example", globex, Role.ADMIN)
    auth.login("viewer@example.com")
    assert client.get(f"/orgs/{api_org}/settings/portal-links").status_code == 403
    auth.logout()
    auth.login("boss@globex.example")
    assert (
        client.get(f"/orgs/{globex}/settings/portal-links").get_data(as_text=True).count(row.id)
        == 0
    )
    assert auth.post(f"/orgs/{globex}/settings/portal-links/{row.id}/revoke").status_code == 404
    assert auth.post(f"/orgs/{api_org}/settings/portal-links/{row.id}/revoke").status_code == 404
    assert links(app)[0].revoked_at is None


def test_an_export_in_the_portal_is_the_visitors_and_recorded_as_theirs(app, client, api, api_org):
    landing = open_portal(client, api, external_user_id="auditor-1")
    link_id = links(app)[0].id
    page = client.get(landing.headers["Location"]).get_data(as_text=True)
    token = csrf_token_from(page)
    created = client.post(f"/orgs/{api_org}/exports", data={"format": "csv", "csrf_token": token})
    assert created.status_code == 303
    with app.app_context():
        export = db.session.scalar(select(Export))
        assert export.created_by_id is None and export.portal_link_id == link_id
    with app.app_context():
        exports.run_next_export()
    listing = client.get(f"/orgs/{api_org}/exports").get_data(as_text=True)
    assert "the Admin Portal (auditor-1)" in listing
    download = client.get(f"/orgs/{api_org}/exports/{export.id}/download")
    assert download.get_data().startswith(b"\xef\xbb\xbfid,")  # the CSV, BOM first
    download.close()  # the file is sent from disk
    assert download.status_code == 200
    with app.app_context():
        (row,) = db.session.scalars(select(ExportDownload)).all()
        assert (row.via, row.user_id, row.portal_link_id) == ("portal", None, link_id)
    for action in ("dashboard.export_created", "dashboard.export_downloaded"):
        (event,) = recorded(app, api_org, action)
        assert (event.actor_type, event.actor_id) == ("admin_portal", link_id)


def test_a_key_of_another_organization_cannot_revoke_its_links(
    app, client, api, api_org, make_org, make_key
):
    open_portal(app.test_client(), api, external_user_id="x")
    other = make_org("Globex")
    theirs = ApiClient(client, make_key(other), other)
    response = theirs.post(
        "/portal/revoke_link", json={"organization": api_org, "external_user_id": "x"}
    )
    assert response.status_code == 404
    assert links(app)[0].revoked_at is None
