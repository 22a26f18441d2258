"""An auditor presses "Verify integrity" and reads the result; an admin sets retention; the
dashboard's own events show in the viewer."""

import re

from playwright.sync_api import expect
from sqlalchemy import text

from app.extensions import db
from app.orgs.models import Role
from tests.conftest import seed_event


def test_an_auditor_verifies_the_log_and_sees_tampering(
    app, page, sign_in, make_org, make_user, make_events, screenshot
):
    acme = make_org("Acme")
    make_user("ann@example.com", acme, Role.VIEWER)
    make_events(acme, *[seed_event(metadata={"n": i}) for i in range(30)])
    sign_in("ann@example.com")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Integrity").click()
    expect(page).to_have_url(re.compile(f"/orgs/{acme}/integrity$"))
    expect(page.locator("#chain")).to_contain_text("31")  # 30 events and the sign-in
    for label in ("Events in the log", "Head sequence number"):
        figure = page.locator("#chain dl div").filter(has_text=label).locator("dd")
        expect(figure).to_have_text("31")
    expect(page.get_by_text("No verification has been run yet.")).to_be_visible()

    page.get_by_role("button", name="Verify integrity").click()
    expect(page.get_by_text("Intact.")).to_be_visible()
    expect(page.locator("#verification")).to_contain_text("31 events verified up to seq 31")
    runs = page.locator("#runs")
    expect(runs).to_contain_text("ann@example.com")
    expect(runs).to_contain_text("intact")
    screenshot("integrity-intact")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("integrity-intact-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    with app.app_context(), db.engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE events SET actor_id = 'mallory' WHERE organization_id = :org AND seq = 12"
            ),
            {"org": acme},
        )
    page.get_by_role("button", name="Verify integrity").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("The log does not verify at seq 12: changed.")
    expect(alert).to_contain_text("column actor_id disagrees with the stored event")
    expect(runs.get_by_role("row")).to_have_count(3)  # the header and two runs
    screenshot("integrity-tampered")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("integrity-tampered-phone")

    # Both runs are in the log itself, as the viewer shows.
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Events").click()
    verified_rows = page.get_by_role("row").filter(has_text="dashboard.integrity_verified")
    expect(verified_rows).to_have_count(2)
    expect(verified_rows.first).to_contain_text("ann@example.com")


def test_an_admin_sets_the_retention_period(page, sign_in, make_org, make_user, screenshot):
    acme = make_org("Acme")
    make_user("ann@example.com", acme, Role.ADMIN)
    sign_in("ann@example.com")
    page.goto(f"/orgs/{acme}/settings")
    page.get_by_role("link", name="Retention").click()
    expect(page.get_by_text("events are kept forever")).to_be_visible()
    page.get_by_label("Keep events for").select_option(label="1 year (365 days)")
    page.get_by_role("button", name="Save period").click()
    expect(page.get_by_text("Events are now kept for 365 days")).to_be_visible()
    expect(page.get_by_label("Keep events for")).to_have_value("365")
    screenshot("retention-settings")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("retention-settings-phone")
