"""Signing in and out, throttling, passwords."""

from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from app.accounts.models import User
from app.extensions import db
from app.orgs.models import Role
from tests.conftest import PASSWORD


@pytest.fixture
def member(make_org, make_user):
    org_id = make_org("Acme")
    make_user("ann@example.com", org_id, Role.VIEWER)
    return org_id


def test_login_with_valid_credentials_leads_to_the_organization(client, auth, member):
    response = auth.login("ann@example.com")
    assert response.status_code == 303
    response = client.get("/")
    assert response.headers["Location"].endswith(f"/orgs/{member}/events")


def test_login_email_is_case_insensitive(auth, member):
    assert auth.login("  ANN@example.com ").status_code == 303


@pytest.mark.parametrize(
    ("email", "password"),
    [("ann@example.com", "wrong password!"), ("nobody@example.com", PASSWORD)],
)
def test_bad_credentials_get_one_generic_message(auth, member, email, password):
    response = auth.login(email, password)
    assert response.status_code == 422
    assert "Email or password is not correct." in response.get_data(as_text=True)
    assert not auth.signed_in()


def test_password_is_stored_as_argon2_hash(app, member):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "ann@example.com"))
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash


def test_repeated_failures_are_throttled_with_a_429_page(app, auth, member):
    app.config["LOGIN_RATE_LIMIT"] = "3 per 5 minutes"
    for _ in range(3):
        assert auth.login("ann@example.com", "wrong password!").status_code == 422
    response = auth.login("ann@example.com", PASSWORD)
    assert response.status_code == 429
    assert "Too many attempts" in response.get_data(as_text=True)
    assert "Retry-After" in response.headers


def test_successful_logins_are_not_counted_as_failures(app, client, auth, member):
    app.config["LOGIN_RATE_LIMIT"] = "2 per 5 minutes"
    for _ in range(4):
        assert auth.login("ann@example.com").status_code == 303
        auth.logout()


def test_logout_signs_out(client, auth, member):
    auth.login("ann@example.com")
    response = auth.logout()
    assert response.status_code == 303
    assert client.get(f"/orgs/{member}/events").status_code == 302


def test_logout_needs_post_with_csrf(client, auth, member):
    auth.login("ann@example.com")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert auth.signed_in()


def test_pages_require_signing_in(client, member):
    response = client.get(f"/orgs/{member}/events")
    assert response.status_code == 302
    assert "/login?next=" in response.headers["Location"]


def test_an_htmx_request_after_the_session_ended_sends_the_whole_window_to_sign_in(client, member):
    page = f"http://localhost/orgs/{member}/events?range=24h"
    response = client.get(
        f"/orgs/{member}/events?range=24h&after=x",
        headers={"HX-Request": "true", "HX-Current-URL": page},
    )
    assert response.status_code == 401
    assert response.get_data() == b""  # nothing to swap into the page
    redirect_to = urlsplit(response.headers["HX-Redirect"])
    assert redirect_to.path == "/login"
    assert parse_qs(redirect_to.query)["next"] == [f"/orgs/{member}/events?range=24h"]


def test_login_returns_to_the_page_asked_for_but_never_offsite(client, auth, member):
    token_page = client.get("/login?next=/account")
    assert token_page.status_code == 200
    from tests.conftest import csrf_token_from

    token = csrf_token_from(token_page.get_data(as_text=True))
    response = client.post(
        "/login?next=/account",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/account"
    auth.logout()
    token = csrf_token_from(client.get("/login").get_data(as_text=True))
    response = client.post(
        "/login?next=//evil.example/x",
        data={"email": "ann@example.com", "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_change_password(client, auth, member):
    auth.login("ann@example.com")
    new = "a much better password"
    response = auth.post(
        "/account", {"current_password": PASSWORD, "password": new, "confirm": new}
    )
    assert response.status_code == 303
    auth.logout()
    assert auth.login("ann@example.com", PASSWORD).status_code == 422
    assert auth.login("ann@example.com", new).status_code == 303


def test_change_password_needs_the_current_one(auth, member):
    auth.login("ann@example.com")
    response = auth.post(
        "/account", {"current_password": "wrong one!", "password": "x" * 12, "confirm": "x" * 12}
    )
    assert response.status_code == 422
    assert "The current password is not correct." in response.get_data(as_text=True)
