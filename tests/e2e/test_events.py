"""The event viewer in a real browser: filter, load more, open an event, reload, stay safe."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.orgs import services as orgs
from app.orgs.models import Role
from app.schemas.services import create_schema
from app.timestamps import isoformat, utcnow
from tests.conftest import seed_event
from tests.e2e.conftest import SCREENSHOTS

NOW = utcnow().replace(microsecond=0)
ACTIONS = ("document.viewed", "user.signed_in", "invoice.paid")


def event(minutes_ago, action, index):
    """A realistic event ``minutes_ago``."""
    return seed_event(
        action=action,
        occurred_at=isoformat(NOW - timedelta(minutes=minutes_ago)),
        actor={"type": "user", "id": f"user_{index % 7}", "name": f"Person {index % 7}"},
        targets=[{"type": "document", "id": f"doc_{index % 11}", "name": f"Report {index % 11}"}],
        metadata={"index": index},
    )


@pytest.fixture
def acme(app, make_org, make_user, make_events, sign_in):
    """Acme with its actions configured, 150 events (80 document.viewed), ann signed in."""
    org_id = make_org("Acme")
    make_user("ann@example.com")
    sign_in("ann@example.com")  # before joining: the log holds only the events below
    make_user("ann@example.com", org_id, Role.VIEWER)
    with app.app_context():
        org = orgs.get_organization(org_id)
        for action in ACTIONS:
            create_schema(org, action, {"targets": [{"type": "document"}]}, actor=None)
        db.session.commit()
    events = [event(i * 7, ACTIONS[0] if i % 15 < 8 else ACTIONS[1 + i % 2], i) for i in range(150)]
    make_events(org_id, *events)
    return org_id


def test_filter_load_more_open_an_event_and_reload(page, acme, screenshot):
    page.goto(f"/orgs/{acme}/events")
    rows = page.locator("#event-rows tr")
    expect(rows).to_have_count(50)
    expect(page.locator("#event-chart svg")).to_be_visible()
    screenshot("events-list")

    page.get_by_text("All actions").click()
    page.get_by_role("group", name="Action").get_by_label("document.viewed").check()
    expect(page).to_have_url(re.compile(r"\?action=document\.viewed$"))
    page.keyboard.press("Escape")
    expect(rows).to_have_count(50)
    expect(page.locator("#event-rows .col-action")).to_have_text(["document.viewed"] * 50)

    page.get_by_role("link", name="Load more").click()
    expect(rows).to_have_count(80)
    expect(page.get_by_text("That is every event matching these filters.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"\?action=document\.viewed$"))  # not the page's URL

    rows.nth(60).locator(".col-actor").click()
    panel = page.locator("#event-panel")
    expect(panel.get_by_role("heading", name="Raw JSON")).to_be_visible()
    expect(panel.locator(".raw-json")).to_contain_text('"action": "document.viewed"')
    screenshot("events-detail-panel")
    permanent = panel.get_by_role("link", name="Permanent link").get_attribute("href")
    page.keyboard.press("Escape")
    expect(panel).to_be_hidden()

    first_rows = page.locator("#event-rows tr .col-time").all_inner_texts()[:50]
    page.reload()
    expect(page.locator("#filter-action-summary")).to_have_text("document.viewed")
    expect(
        page.locator('#event-filters input[name=action][value="document.viewed"]')
    ).to_be_checked()
    expect(rows).to_have_count(50)
    assert page.locator("#event-rows tr .col-time").all_inner_texts() == first_rows

    page.go_back()
    expect(page).to_have_url(re.compile(r"/events$"))
    expect(
        page.locator("#event-rows .col-action").filter(has_text="invoice.paid").first
    ).to_be_visible()

    page.goto(permanent)
    expect(page.get_by_role("heading", name="document.viewed")).to_be_visible()
    expect(page.get_by_role("heading", name="Actor")).to_be_visible()
    screenshot("events-detail-page")


def test_text_filters_and_chart_bars_apply_without_a_reload(page, acme, screenshot):
    page.goto(f"/orgs/{acme}/events")
    page.evaluate("window.notReloaded = true")
    page.get_by_label("Search").fill("report 3")
    expect(page).to_have_url(re.compile(r"\?q=report\+3$"))
    expect(page.locator("#event-rows .target-chip").first).to_contain_text("Report 3")
    page.get_by_label("Search").fill("re")
    expect(page.locator("#filter-error-q")).to_have_text("Type at least 3 characters.")
    page.get_by_label("Search").fill("")
    page.get_by_label("Actor").fill("Person 2")
    expect(page).to_have_url(re.compile(r"\?actor=Person\+2$"))
    expect(page.locator("#event-rows .actor-name").first).to_have_text("Person 2")
    page.locator("#event-chart svg a").last.click()
    expect(page).to_have_url(re.compile(r"range=custom&from=.*&until=.*&actor=Person\+2"))
    expect(page.get_by_label("Date range")).to_have_value("custom")
    assert page.evaluate("window.notReloaded") is True
    screenshot("events-filtered")


def test_times_switch_between_utc_and_local_and_stay_so(page, acme):
    page.goto(f"/orgs/{acme}/events")
    first = page.locator("#event-rows time").first
    expect(first).to_contain_text("UTC")
    page.get_by_role("button", name="Local time").click()
    expect(page.get_by_role("button", name="Local time")).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.get_by_role("button", name="Local time")).to_have_attribute("aria-pressed", "true")
    assert "UTC" in page.locator("#event-rows time").first.get_attribute("title")


def test_a_phone_sees_the_list_and_the_detail(page, acme):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/orgs/{acme}/events")
    expect(page.locator("#event-rows tr")).to_have_count(50)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "events-phone-top.png"))
    page.locator("#event-rows tr").first.locator(".col-actor").click()
    expect(page.locator("#event-panel").get_by_role("heading", name="Raw JSON")).to_be_attached()
    page.screenshot(path=str(SCREENSHOTS / "events-phone-detail-top.png"))


HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


def test_event_contents_never_run(page, app, make_org, make_user, make_events, sign_in):
    org_id = make_org("Acme")
    make_user("ann@example.com")
    sign_in("ann@example.com")  # before joining: the log holds only the hostile event
    make_user("ann@example.com", org_id, Role.VIEWER)
    [event_id] = make_events(
        org_id,
        seed_event(
            actor={"type": "user", "id": "user_<b>x</b>", "name": HOSTILE},
            targets=[{"type": "team", "id": "t1", "name": HOSTILE, "metadata": {"m": HOSTILE}}],
            metadata={"note": HOSTILE, "link": "javascript:window.pwned=3"},
            context={"location": "<svg onload=window.pwned=4>", "user_agent": HOSTILE},
        ),
    )
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for url in (
        f"/orgs/{org_id}/events",
        f"/orgs/{org_id}/events?q=window",
        f"/orgs/{org_id}/events/{event_id}",
    ):
        page.goto(url)
        expect(page.get_by_text(HOSTILE).first).to_be_visible()
        assert page.locator("img[src=x], svg[onload], b").count() == 0
    page.goto(f"/orgs/{org_id}/events")
    page.locator("#event-rows tr").first.locator(".col-actor").click()
    expect(page.locator("#event-panel .raw-json")).to_contain_text("window.pwned=2")
    assert page.locator("#event-panel img, #event-panel script").count() == 0
    assert page.evaluate("window.pwned") is None
    assert dialogs == []
