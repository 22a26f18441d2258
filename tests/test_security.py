"""Security headers, cookies and error pages."""

import pytest
from flask import abort


def test_security_headers_on_pages(client, org_admin):
    response = client.get(f"/orgs/{org_admin}/events")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_pages_have_no_inline_scripts_or_styles(client, org_admin):
    for section in ("events", "schemas", "exports", "settings"):
        page = client.get(f"/orgs/{org_admin}/{section}").get_data(as_text=True)
        assert "<script>" not in page and " style=" not in page and "<style" not in page
        assert "htmx-2.0.11.min.js" in page
        assert '"includeIndicatorStyles": false' in page


def test_session_cookie_is_httponly_and_samesite_lax(client, make_org, make_user, auth):
    org_id = make_org()
    make_user("a@example.com", org_id)
    response = auth.login("a@example.com")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured(app, client, make_org, make_user, auth):
    app.config["SESSION_COOKIE_SECURE"] = True
    org_id = make_org()
    make_user("a@example.com", org_id)
    assert "Secure" in auth.login("a@example.com").headers["Set-Cookie"]


def test_404_page_is_in_the_layout(client, org_admin):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "Page not found" in page and 'class="topbar"' in page


def get_a_crash(app, client, path):
    """GET ``path`` from a view that raises, with errors handled as in production."""
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get(path)
    def boom():
        raise RuntimeError("secret internals")

    return client.get(path)


def test_500_page_shows_no_internals(app, client, make_user):
    make_user("a@example.com")
    response = get_a_crash(app, client, "/boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong" in page and "secret internals" not in page


@pytest.mark.parametrize("path", ["/audit_logs/nothing", "/organizations/org_x/nothing"])
def test_api_paths_get_json_errors(client, make_user, path):
    make_user("a@example.com")  # past the first-run redirect
    response = client.get(path)
    assert response.status_code == 404
    assert response.is_json
    assert response.get_json()["message"]


def test_api_server_errors_are_json(app, client, make_user):
    make_user("a@example.com")
    response = get_a_crash(app, client, "/audit_logs/boom")
    assert response.status_code == 500
    assert response.get_json() == {
        "message": "Something went wrong on our side; it has been logged.",
        "code": "server_error",
    }


def test_api_http_errors_carry_the_contract_code(app, client, make_user):
    make_user("a@example.com")

    @app.get("/audit_logs/teapot")
    def teapot():
        abort(401)

    assert client.get("/audit_logs/teapot").get_json() == {
        "message": "Unauthorized",
        "code": "unauthorized",
    }
