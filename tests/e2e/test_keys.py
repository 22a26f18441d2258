"""An admin creates an API key in Settings, copies its secret once, then revokes the key."""

import re

from playwright.sync_api import expect

from app.orgs.models import Role


def test_admin_creates_copies_and_revokes_a_key(page, sign_in, make_org, make_user, screenshot):
    acme = make_org("Acme")
    make_user("ann@example.com", acme, Role.ADMIN)
    sign_in("ann@example.com")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Settings").click()
    page.get_by_role("link", name="API keys").click()
    expect(page).to_have_url(re.compile(f"/orgs/{acme}/settings/api-keys$"))
    expect(page.get_by_text("No keys yet.")).to_be_visible()
    screenshot("keys-empty")

    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_text("This field is required.")).to_be_visible()
    expect(page.locator("#new-secret")).to_have_count(0)
    screenshot("keys-invalid")

    page.get_by_label("Name").fill("Billing service")
    page.get_by_role("button", name="Create key").click()
    secret_field = page.locator("#new-secret")
    expect(secret_field).to_have_value(re.compile(r"^sk_[A-Za-z0-9_-]{40,}$"))
    expect(secret_field).to_have_attribute("readonly", "")
    expect(page.get_by_role("button", name="Copy")).to_be_visible()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    secret = secret_field.input_value()
    row = page.get_by_role("row").filter(has_text="Billing service")
    expect(row).to_contain_text(secret[:11])
    expect(row).to_contain_text("ann@example.com")
    expect(row).to_contain_text("never")
    screenshot("keys-created")

    # The form was sent by htmx: the address is still the list's, so a reload is a GET
    # that neither shows the secret again nor creates a second key.
    assert page.url.endswith(f"/orgs/{acme}/settings/api-keys")
    page.reload()
    expect(page.locator("#new-secret")).to_have_count(0)
    assert secret not in page.content()
    expect(row).to_contain_text("active")
    expect(page.get_by_role("row").filter(has_text="Billing service")).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("“Billing service” has been revoked")).to_be_visible()
    expect(row).to_contain_text("revoked")
    expect(row.get_by_role("button", name="Revoke")).to_have_count(0)
    screenshot("keys-revoked")
