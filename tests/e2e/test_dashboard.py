"""Walks through the dashboard as people use it."""

import re

import pytest
from playwright.sync_api import expect

from app.orgs.models import Role
from tests.conftest import PASSWORD
from tests.e2e.steps import submit


@pytest.fixture
def member_of_acme(make_org, make_user, sign_in):
    """Sign in as a new member of Acme with a role: returns Acme's id."""

    def sign_in_as(email, role):
        acme = make_org("Acme")
        make_user(email, acme, role)
        sign_in(email)
        return acme

    return sign_in_as


def test_first_run_setup_then_sign_out_and_in(page, screenshot):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/setup$"))
    expect(page.get_by_role("heading", name="Welcome")).to_be_visible()
    screenshot("setup")
    page.get_by_label("Organization name").fill("Acme Inc.")
    page.get_by_label("Your email").fill("owner@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    submit(
        page,
        "Create organization and account",
        lands_on=r"/orgs/org_[0-9A-Z]{26}/events$",
        flash="Welcome! Acme Inc. is ready.",
    )
    # The log starts with its own creation, by the person who set it up.
    first = page.locator("#event-rows tr").first
    expect(first).to_contain_text("dashboard.organization_created")
    expect(first).to_contain_text("owner@example.com")
    screenshot("events-first-run")

    # The setup page is gone for good.
    assert page.goto("/setup").status == 404

    page.goto("/")
    page.get_by_role("group").filter(has_text="owner@example.com").click()
    submit(page, "Sign out", lands_on=r"/login$", flash="You have signed out.")

    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Events", exact=True)).to_be_visible()


def test_wrong_password_shows_one_generic_message(page, sign_in, make_org, make_user, screenshot):
    make_user("ann@example.com", make_org("Acme"), Role.ADMIN)
    sign_in("ann@example.com", "not the password")
    expect(page.get_by_role("alert")).to_have_text("Email or password is not correct.")
    expect(page.get_by_label("Email")).to_have_value("ann@example.com")
    screenshot("login-error")


def test_switching_organizations(page, sign_in, make_org, make_user, screenshot):
    acme = make_org("Acme")
    globex = make_org("Globex")
    make_user("ann@example.com", acme, Role.ADMIN, superuser=True)
    make_user("ann@example.com", globex, Role.ADMIN)
    sign_in("ann@example.com")
    expect(page).to_have_url(re.compile(f"/orgs/{acme}/events$"))
    switcher = page.locator("details.org-switcher")
    expect(switcher.locator("summary")).to_contain_text("Acme")
    switcher.locator("summary").click()
    screenshot("org-switcher")
    switcher.get_by_role("link", name=re.compile("Globex")).click()
    expect(page).to_have_url(re.compile(f"/orgs/{globex}/events$"))
    expect(page.locator("details.org-switcher summary")).to_contain_text("Globex")

    page.get_by_role("link", name="Settings").click()
    expect(page.get_by_role("heading", name="Members")).to_be_visible()
    screenshot("settings")


def test_viewer_trying_an_admin_page_gets_403(page, member_of_acme, screenshot):
    acme = member_of_acme("vera@example.com", Role.VIEWER)
    expect(page.get_by_role("link", name="Events")).to_be_visible()
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    response = page.goto(f"/orgs/{acme}/settings")
    assert response.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    screenshot("forbidden")


def test_admin_adds_a_viewer_who_can_then_sign_in(page, sign_in, member_of_acme, screenshot):
    acme = member_of_acme("ann@example.com", Role.ADMIN)
    page.goto(f"/orgs/{acme}/settings")
    page.get_by_label("Email", exact=True).fill("vic@example.com")
    page.get_by_label("Role", exact=True).select_option("viewer")
    page.get_by_label("Initial password").fill("vic's password!")
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text("vic@example.com is now a member (viewer).")).to_be_visible()
    expect(page.get_by_role("cell", name="vic@example.com", exact=True)).to_be_visible()
    screenshot("settings-member-added")

    page.get_by_role("group").filter(has_text="ann@example.com").click()
    page.get_by_role("button", name="Sign out").click()
    sign_in("vic@example.com", "vic's password!")
    expect(page).to_have_url(re.compile(f"/orgs/{acme}/events$"))
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)


def test_pages_fit_a_phone_screen(page, sign_in, make_org, make_user, screenshot):
    acme = make_org("Acme Incorporated International")
    make_user("someone.with.a.long.address@example.com", acme, Role.ADMIN, superuser=True)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in("someone.with.a.long.address@example.com")
    for section in ("events", "schemas", "exports", "settings", "settings/api-keys"):
        page.goto(f"/orgs/{acme}/{section}")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{section} scrolls sideways by {overflow}px"
        screenshot(f"phone-{section.replace('/', '-')}")
