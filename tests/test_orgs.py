"""Organizations and members through the dashboard."""

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.orgs.models import Membership, Organization, Role
from tests.conftest import PASSWORD


def members(app, org_id):
    with app.app_context():
        rows = db.session.execute(
            select(User.email, Membership.role)
            .join(Membership.user)
            .where(Membership.organization_id == org_id)
        ).all()
        return {email: role for email, role in rows}


def test_superuser_creates_an_organization_and_becomes_its_admin(app, client, auth, org_admin):
    response = auth.post("/orgs/new", {"name": "Globex"})
    assert response.status_code == 303
    new_id = response.headers["Location"].split("/")[2]
    assert new_id.startswith("org_") and len(new_id) == 30
    assert members(app, new_id) == {"admin@example.com": Role.ADMIN}
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Globex" in page and "Acme" in page  # both in the switcher


def test_new_organization_needs_a_name(auth, org_admin):
    response = auth.post("/orgs/new", {"name": "  "})
    assert response.status_code == 422
    assert "This field is required." in response.get_data(as_text=True)


def test_admin_adds_existing_user_as_viewer(app, auth, org_admin, make_user):
    make_user("bob@example.com")
    response = auth.post(
        f"/orgs/{org_admin}/members", {"email": "BOB@example.com", "role": "viewer"}
    )
    assert response.status_code == 303
    assert members(app, org_admin)["bob@example.com"] == Role.VIEWER


def test_admin_adds_new_person_with_initial_password(app, client, auth, org_admin):
    response = auth.post(
        f"/orgs/{org_admin}/members",
        {"email": "carol@example.com", "role": "admin", "password": PASSWORD},
    )
    assert response.status_code == 303
    assert members(app, org_admin)["carol@example.com"] == Role.ADMIN
    auth.logout()
    assert auth.login("carol@example.com").status_code == 303


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"email": "new@example.com", "role": "viewer"}, "set an initial password"),
        ({"email": "admin@example.com", "role": "viewer"}, "already a member"),
        ({"email": "nope", "role": "viewer"}, "Invalid email address."),
        ({"email": "x@example.com", "role": "owner"}, "Not a valid choice"),
        ({"email": "x@example.com", "role": "viewer", "password": "short"}, "at least 10"),
    ],
)
def test_adding_a_member_refuses_bad_input_inline(app, auth, org_admin, data, message):
    response = auth.post(f"/orgs/{org_admin}/members", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert set(members(app, org_admin)) == {"admin@example.com"}


def test_admin_changes_a_role(app, auth, org_admin, make_user):
    make_user("bob@example.com", org_admin, Role.VIEWER)
    with app.app_context():
        bob = db.session.scalar(
            select(Membership.id).join(Membership.user).where(User.email == "bob@example.com")
        )
    auth.post(f"/orgs/{org_admin}/members/{bob}/role", {"role": "admin"})
    assert members(app, org_admin)["bob@example.com"] == Role.ADMIN


def test_the_last_admin_cannot_be_demoted_or_removed(app, client, auth, org_admin):
    with app.app_context():
        mine = db.session.scalar(
            select(Membership.id).where(Membership.organization_id == org_admin)
        )
    response = auth.post(f"/orgs/{org_admin}/members/{mine}/role", {"role": "viewer"})
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "needs at least one admin" in page
    auth.post(f"/orgs/{org_admin}/members/{mine}/remove")
    assert members(app, org_admin) == {"admin@example.com": Role.ADMIN}


def test_admin_removes_a_member(app, auth, org_admin, make_user):
    make_user("bob@example.com", org_admin, Role.VIEWER)
    with app.app_context():
        bob = db.session.scalar(
            select(Membership.id).join(Membership.user).where(User.email == "bob@example.com")
        )
    assert auth.post(f"/orgs/{org_admin}/members/{bob}/remove").status_code == 303
    assert "bob@example.com" not in members(app, org_admin)


def test_rename_organization(app, auth, org_admin):
    assert auth.post(f"/orgs/{org_admin}/settings", {"name": "Acme Corp"}).status_code == 303
    with app.app_context():
        assert db.session.get(Organization, org_admin).name == "Acme Corp"


@pytest.mark.parametrize("section", ["events", "schemas", "exports", "settings"])
def test_each_section_renders_a_helpful_page(client, org_admin, section):
    response = client.get(f"/orgs/{org_admin}/{section}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert org_admin in page or section == "exports"
    assert 'aria-current="page"' in page


def test_user_without_organization_sees_what_to_do(client, auth, make_user):
    make_user("lonely@example.com")
    auth.login("lonely@example.com")
    page = client.get("/").get_data(as_text=True)
    assert "not in any organization" in page
