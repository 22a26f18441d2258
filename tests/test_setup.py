"""First run: every page leads to setup until the first account exists."""

import pytest

from tests.conftest import PASSWORD, csrf_token_from


@pytest.mark.parametrize("path", ["/", "/login", "/account", "/orgs/org_x/events"])
def test_every_page_leads_to_setup_while_no_user_exists(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup")


def test_setup_creates_superuser_and_organization_and_signs_in(client):
    token = csrf_token_from(client.get("/setup").get_data(as_text=True))
    response = client.post(
        "/setup",
        data={
            "organization": "Acme",
            "email": "Owner@Example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert "/orgs/org_" in response.headers["Location"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "owner@example.com" in page
    assert "Acme" in page
    assert "+ New organization" in page  # superuser


def test_setup_answers_404_once_a_user_exists(client, make_user):
    make_user("someone@example.com")
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={}).status_code in (400, 404)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Invalid email address."),
        ("password", "short", "Use at least 10 characters."),
        ("confirm", "something else", "The passwords do not match."),
        ("organization", "", "This field is required."),
    ],
)
def test_setup_refuses_bad_input_inline_and_creates_nothing(client, field, value, message):
    token = csrf_token_from(client.get("/setup").get_data(as_text=True))
    data = {
        "organization": "Acme",
        "email": "owner@example.com",
        "password": PASSWORD,
        "confirm": PASSWORD,
        "csrf_token": token,
    }
    data[field] = value
    response = client.post("/setup", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert client.get("/").headers["Location"].endswith("/setup")


def test_setup_without_csrf_token_is_refused(client):
    response = client.post(
        "/setup",
        data={
            "organization": "A",
            "email": "a@example.com",
            "password": PASSWORD,
            "confirm": PASSWORD,
        },
    )
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)
    assert client.get("/").headers["Location"].endswith("/setup")
