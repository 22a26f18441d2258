"""Every organization URL: 404 for non-members, 403 where the role does not allow it.

The routes are read from the app's URL map, so a route added later is checked too.
"""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.orgs.models import Membership, Role


def org_routes(app):
    """(rule, method, view) for every route under /orgs/<org_id>/."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/orgs/<org_id>"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, app.view_functions[rule.endpoint]


def build_url(app, rule, org_id, membership_id):
    """The URL of ``rule`` for this organization."""
    values = {"org_id": org_id}
    for name in rule.arguments - {"org_id"}:
        # Integer ids take the membership's; other ids a placeholder (403/404 come first).
        values[name] = membership_id if name == "membership_id" else f"{name}_placeholder"
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


@pytest.fixture
def two_orgs(app, make_org, make_user):
    """Acme (with an admin and a viewer) and Globex (with its own admin)."""
    acme = make_org("Acme")
    globex = make_org("Globex")
    make_user("admin@example.com", acme, Role.ADMIN)
    make_user("viewer@example.com", acme, Role.VIEWER)
    make_user("admin@globex.example.com", globex, Role.ADMIN)
    with app.app_context():
        globex_membership = db.session.scalar(
            select(Membership.id).where(Membership.organization_id == globex)
        )
        viewer_membership = db.session.scalar(
            select(Membership.id)
            .where(Membership.organization_id == acme)
            .where(Membership.role == Role.VIEWER)
        )
    return {
        "acme": acme,
        "globex": globex,
        "globex_membership": globex_membership,
        "viewer_membership": viewer_membership,
    }


def request(auth, method, url):
    if method == "GET":
        return auth.client.get(url)
    return auth.post(url, {"role": "admin", "name": "x", "email": "x@example.com"})


def test_every_org_route_declares_its_role(app):
    routes = list(org_routes(app))
    assert routes, "no organization routes found"
    for rule, _method, view in routes:
        assert hasattr(view, "required_role"), f"{rule} is not protected by org_view"


def test_non_members_get_404_on_every_org_route(app, auth, two_orgs):
    auth.login("admin@example.com")
    for rule, method, _view in org_routes(app):
        url = build_url(app, rule, two_orgs["globex"], two_orgs["globex_membership"])
        response = request(auth, method, url)
        assert response.status_code == 404, f"{method} {url}"


def test_unknown_organizations_get_404_like_foreign_ones(app, auth, two_orgs):
    auth.login("admin@example.com")
    for rule, method, _view in org_routes(app):
        url = build_url(app, rule, "org_01HZZZZZZZZZZZZZZZZZZZZZZZ", 1)
        assert request(auth, method, url).status_code == 404, f"{method} {url}"


def test_viewers_get_403_on_admin_routes_and_in_on_the_rest(app, auth, two_orgs):
    auth.login("viewer@example.com")
    for rule, method, view in org_routes(app):
        url = build_url(app, rule, two_orgs["acme"], two_orgs["viewer_membership"])
        status = request(auth, method, url).status_code
        if view.required_role == Role.ADMIN:
            assert status == 403, f"{method} {url}"
        elif "_placeholder" in url:
            # Let in, then the placeholder names nothing that exists.
            assert status in (200, 302, 303, 404), f"{method} {url} gave {status}"
        else:
            assert status in (200, 302, 303), f"{method} {url} gave {status}"


def test_another_orgs_membership_cannot_be_changed_through_my_org(app, auth, two_orgs):
    auth.login("admin@example.com")
    url = f"/orgs/{two_orgs['acme']}/members/{two_orgs['globex_membership']}/remove"
    assert auth.post(url).status_code == 404
    with app.app_context():
        assert db.session.get(Membership, two_orgs["globex_membership"]) is not None


def test_viewer_does_not_see_the_settings_tab(client, auth, two_orgs):
    auth.login("viewer@example.com")
    page = client.get(f"/orgs/{two_orgs['acme']}/events").get_data(as_text=True)
    assert ">Settings<" not in page
    assert ">Events<" in page


def test_only_superusers_create_organizations(client, auth, two_orgs):
    auth.login("admin@example.com")
    assert client.get("/orgs/new").status_code == 403
    assert auth.post("/orgs/new", {"name": "Initech"}).status_code == 403
