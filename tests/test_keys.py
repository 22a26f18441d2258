"""API keys in Settings and on the command line: the secret is shown once, stored as a hash."""

import hashlib
import re

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.keys import services
from app.keys.models import ApiKey
from app.orgs.models import Role

SECRET_PATTERN = re.compile(r'id="new-secret" value="(sk_[A-Za-z0-9_-]+)"')


def keys_url(org_id):
    return f"/orgs/{org_id}/settings/api-keys"


def create_via_dashboard(auth, org_id, name="Billing service"):
    """Create a key through the form: the response and the secret it shows."""
    response = auth.post(keys_url(org_id), {"name": name})
    match = SECRET_PATTERN.search(response.get_data(as_text=True))
    return response, match.group(1) if match else None


def stored_keys(app):
    with app.app_context():
        return db.session.scalars(select(ApiKey)).all()


def authenticates(app, secret):
    with app.app_context():
        return services.authenticate(secret) is not None


def test_creating_a_key_shows_its_secret_once(app, client, auth, org_admin):
    response, secret = create_via_dashboard(auth, org_admin)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{40,}", secret)
    page = response.get_data(as_text=True)
    assert page.count(secret) == 1
    assert 'data-copy="#new-secret"' in page
    assert "shown only this once" in page
    # The create form is empty again, ready for another key.
    assert 'value="Billing service"' not in page

    later = client.get(keys_url(org_admin)).get_data(as_text=True)
    assert secret not in later
    assert "new-secret" not in later
    assert "Billing service" in later
    with client.session_transaction() as session:
        assert secret not in repr(dict(session))


def test_only_the_hash_of_the_secret_is_stored(app, auth, org_admin):
    _response, secret = create_via_dashboard(auth, org_admin)
    with app.app_context():
        row = db.session.execute(text("SELECT * FROM api_keys")).mappings().one()
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret[:11] == row["prefix"]
    assert not any(secret in str(value) for value in row.values())


def test_the_secret_authenticates_until_the_key_is_revoked(app, client, auth, org_admin):
    _response, secret = create_via_dashboard(auth, org_admin)
    assert authenticates(app, secret)
    assert not authenticates(app, secret[:-1])
    key_id = stored_keys(app)[0].id

    response = auth.post(f"{keys_url(org_admin)}/{key_id}/revoke")
    assert response.status_code == 303
    assert response.headers["Location"] == keys_url(org_admin)
    assert not authenticates(app, secret)
    page = client.get(keys_url(org_admin)).get_data(as_text=True)
    assert "has been revoked" in page
    assert "Billing service" in page and ">revoked<" in page
    assert "/revoke" not in page  # a revoked key has no revoke button


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 101, "Field cannot be longer than 100 characters."),
    ],
)
def test_a_bad_name_is_refused_inline_and_creates_nothing(app, auth, org_admin, name, message):
    response, secret = create_via_dashboard(auth, org_admin, name)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert secret is None
    assert stored_keys(app) == []


def test_the_list_shows_prefix_creator_and_last_use(app, client, auth, org_admin, runner):
    _response, secret = create_via_dashboard(auth, org_admin, "Billing service")
    assert (
        runner.invoke(args=["keys", "create", "--org", org_admin, "--name", "Cron"]).exit_code == 0
    )

    page = client.get(keys_url(org_admin)).get_data(as_text=True)
    assert f"<code>{secret[:11]}…</code>" in page
    assert "admin@example.com" in page
    assert "command line" in page
    assert page.count(">never<") == 2
    assert page.count(">active<") == 2
    assert f"{org_admin}" in page and "audit_logs/events" in page
    assert "Authorization: Bearer sk_..." in page


def test_the_settings_pages_link_to_each_other(client, org_admin):
    general = client.get(f"/orgs/{org_admin}/settings").get_data(as_text=True)
    keys = client.get(keys_url(org_admin)).get_data(as_text=True)
    assert f'href="{keys_url(org_admin)}">API keys' in general
    assert f'href="/orgs/{org_admin}/settings" aria-current="page">General' in general
    assert f'href="{keys_url(org_admin)}" aria-current="page">API keys' in keys
    assert f'href="/orgs/{org_admin}/settings" aria-current="page">Settings' in keys


def key_routes(org_id, key_id):
    return [
        ("GET", keys_url(org_id)),
        ("POST", keys_url(org_id)),
        ("POST", f"{keys_url(org_id)}/{key_id}/revoke"),
    ]


def call(auth, method, url):
    if method == "GET":
        return auth.client.get(url)
    return auth.post(url, {"name": "Sneaky"})


def test_viewers_get_403_and_non_members_404(app, auth, make_org, make_user):
    acme = make_org("Acme")
    globex = make_org("Globex")
    make_user("viewer@example.com", acme, Role.VIEWER)
    with app.app_context():
        from app.orgs.services import get_organization

        key, _secret = services.create_key(get_organization(acme), "Billing", actor=None)
        db.session.commit()
        key_id = key.id
    auth.login("viewer@example.com")
    for method, url in key_routes(acme, key_id):
        assert call(auth, method, url).status_code == 403, f"{method} {url}"
    for method, url in key_routes(globex, key_id):
        assert call(auth, method, url).status_code == 404, f"{method} {url}"
    assert [k.name for k in stored_keys(app)] == ["Billing"]
    assert stored_keys(app)[0].is_active


def test_another_orgs_key_cannot_be_revoked_through_my_org(app, auth, org_admin, make_org):
    globex = make_org("Globex")
    with app.app_context():
        from app.orgs.services import get_organization

        key, secret = services.create_key(get_organization(globex), "Theirs", actor=None)
        db.session.commit()
        key_id = key.id
    assert auth.post(f"{keys_url(org_admin)}/{key_id}/revoke").status_code == 404
    assert auth.post(f"{keys_url(org_admin)}/key_nope/revoke").status_code == 404
    assert authenticates(app, secret)
    assert "Theirs" not in auth.client.get(keys_url(org_admin)).get_data(as_text=True)


def test_cli_create_prints_a_working_secret(app, runner, make_org):
    org_id = make_org("Acme")
    result = runner.invoke(args=["keys", "create", "--org", org_id, "--name", "Billing service"])
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert re.fullmatch(r"sk_[A-Za-z0-9_-]{40,}", secret)
    assert authenticates(app, secret)
    (key,) = stored_keys(app)
    assert key.name == "Billing service" and key.created_by_id is None


def test_cli_create_refuses_an_unknown_org_and_a_bad_name(app, runner, make_org):
    result = runner.invoke(args=["keys", "create", "--org", "org_nope", "--name", "Billing"])
    assert result.exit_code == 2
    assert "no organization has the id" in result.output
    result = runner.invoke(args=["keys", "create", "--org", make_org(), "--name", "  "])
    assert result.exit_code == 2
    assert "Give the key a name" in result.output
    assert stored_keys(app) == []


def test_cli_lists_and_revokes_keys(app, runner, make_org):
    org_id = make_org("Acme")
    secret = runner.invoke(args=["keys", "create", "--org", org_id, "--name", "Billing"]).stdout
    key_id = stored_keys(app)[0].id

    listed = runner.invoke(args=["keys", "list", "--org", org_id])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.splitlines() == [f"{key_id}\t{secret[:11]}\tBilling\tactive"]

    revoked = runner.invoke(args=["keys", "revoke", key_id, "--org", org_id])
    assert revoked.exit_code == 0, revoked.output
    assert not authenticates(app, secret.strip())
    listed = runner.invoke(args=["keys", "list", "--org", org_id])
    assert listed.stdout.splitlines() == [f"{key_id}\t{secret[:11]}\tBilling\trevoked"]


def test_cli_revoke_refuses_another_orgs_key(app, runner, make_org):
    acme = make_org("Acme")
    globex = make_org("Globex")
    runner.invoke(args=["keys", "create", "--org", globex, "--name", "Theirs"])
    key_id = stored_keys(app)[0].id
    result = runner.invoke(args=["keys", "revoke", key_id, "--org", acme])
    assert result.exit_code == 2
    assert stored_keys(app)[0].is_active
