"""Exports in a real browser: export a filtered view, watch the job, download the file."""

import csv
import io
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app.events.filters import CUSTOM, EventFilter
from app.exports import services
from app.extensions import db
from app.orgs import services as orgs
from app.orgs.models import Role
from app.schemas.services import create_schema
from app.timestamps import isoformat, utcnow
from tests.conftest import seed_event
from tests.e2e.conftest import SCREENSHOTS
from tests.e2e.steps import submit

NOW = utcnow().replace(microsecond=0)
NAMES = ['Zoë "Z" Müller, PhD', "=cmd|' /C calc'!A0", "-5 + 3", "Ann 🚀\nsecond line"]


def event(index, action):
    """An event with an awkward actor name now and then."""
    return seed_event(
        action=action,
        occurred_at=isoformat(NOW - timedelta(minutes=index * 11)),
        actor={"type": "user", "id": f"user_{index % 5}", "name": NAMES[index % len(NAMES)]},
        targets=[{"type": "document", "id": f"doc_{index % 3}", "name": f"Report, {index}"}],
        metadata={"index": index, "note": "=1+1" if index % 2 else "plain"},
    )


@pytest.fixture
def acme(app, make_org, make_user, make_events, sign_in):
    """Acme with 60 events of two actions; vera (a viewer) signed in."""
    org_id = make_org("Acme")
    make_user("vera@example.com", org_id, Role.VIEWER)
    with app.app_context():
        org = orgs.get_organization(org_id)
        for action in ("document.viewed", "user.signed_in"):
            create_schema(org, action, {"targets": [{"type": "document"}]}, actor=None)
        db.session.commit()
    make_events(
        org_id,
        *[event(i, "document.viewed" if i % 3 else "user.signed_in") for i in range(60)],
    )
    sign_in("vera@example.com")
    return org_id


def run_jobs(app):
    """The worker's part (tests run it explicitly)."""
    with app.app_context():
        while services.run_next_export("e2e-worker") is not None:
            pass


def shown_ids(page):
    """The event ids the viewer lists, in order."""
    hrefs = page.locator("#event-rows a.event-link").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))"
    )
    return [href.rsplit("/", 1)[1] for href in hrefs]


@pytest.mark.parametrize("format", ["csv", "ndjson"])
def test_export_a_filtered_view_and_download_it(page, app, acme, screenshot, format):
    page.goto(f"/orgs/{acme}/events")
    page.get_by_text("All actions").click()
    page.get_by_role("group", name="Action").get_by_label("user.signed_in").check()
    page.keyboard.press("Escape")
    page.get_by_label("Actor").fill("user_1")
    expect(page).to_have_url(re.compile(r"\?action=user\.signed_in&actor=user_1$"))
    expect(page.locator("#event-rows tr")).to_have_count(4)
    shown = shown_ids(page)
    if format == "csv":
        screenshot("exports-viewer-control")

    page.get_by_label("Export format").select_option(format)
    submit(page, "Export", lands_on=rf"/orgs/{acme}/exports\?created=", flash="Export started")
    row = page.locator("#exports-table tbody tr").first
    expect(row).to_contain_text("waiting")
    expect(row).to_contain_text("Action: user.signed_in")
    expect(row).to_contain_text("Actor starts with: user_1")
    expect(row.locator("progress")).to_be_visible()

    run_jobs(app)  # the page polls and shows the result without a reload
    expect(row).to_contain_text("ready")
    expect(row).to_contain_text("4")
    expect(row.locator('td[data-label="Rows"]')).to_have_text("4")
    if format == "csv":
        screenshot("exports-ready")
    with page.expect_download() as info:
        row.get_by_role("link", name="Download").click()
    download = info.value
    assert download.suggested_filename.endswith(f".{format}")
    data = Path(download.path()).read_bytes()
    if format == "csv":
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        assert [r["id"] for r in rows] == shown
        assert {r["actor_name"].removeprefix("'") for r in rows} <= set(NAMES)
    else:
        assert [json.loads(line)["id"] for line in data.decode().splitlines()] == shown
    page.reload()
    expect(page.locator("#exports-table tbody tr").first).to_contain_text("1 download")
    expect(page.locator("#exports-table tbody tr").first).to_contain_text("vera@example.com")

    page.get_by_role("link", name="Open in viewer").first.click()
    expect(page).to_have_url(re.compile(r"/events\?"))
    expect(page.locator("#event-rows tr")).to_have_count(4)
    assert shown_ids(page) == shown


def test_exports_fit_a_phone(page, app, acme):
    page.goto(f"/orgs/{acme}/events?action=document.viewed")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("button", name="Export")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "exports-viewer-phone.png"))
    page.get_by_role("button", name="Export").click()
    expect(page.locator("#exports-table tbody tr")).to_have_count(1)
    run_jobs(app)
    expect(page.get_by_role("link", name="Download")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "exports-phone.png"), full_page=True)


def test_an_api_exports_filters_open_in_the_viewer(page, app, acme, screenshot):
    with app.app_context():
        services.create_export(
            orgs.get_organization(acme),
            EventFilter(
                range=CUSTOM,
                start=NOW - timedelta(days=1),
                end=NOW + timedelta(minutes=1),
                actor_ids=("user_1", "user_2"),
                target_types=("document",),
            ),
            actor=None,
        )
        db.session.commit()
    run_jobs(app)
    page.goto(f"/orgs/{acme}/exports")
    row = page.locator("#exports-table tbody tr").first
    expect(row).to_contain_text("Actor id: user_1, user_2")
    row.get_by_role("link", name="Open in viewer").click()
    chips = page.locator(".exact-filters")
    expect(chips).to_contain_text("Actor id: user_1, user_2")
    expect(chips).to_contain_text("Target type (any of): document")
    expect(page.locator("#event-rows tr")).to_have_count(24)
    screenshot("exports-open-in-viewer")
    # Another filter narrows further; the export's own filters stay.
    page.get_by_text("All actions").click()
    page.get_by_role("group", name="Action").get_by_label("user.signed_in").check()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"actor_id=user_1&actor_id=user_2"))
    expect(page.locator("#event-rows tr")).to_have_count(8)
    # And an export from here carries all of them.
    expect(page.locator("#export-filter-fields input[name=actor_id]")).to_have_count(2)
    expect(page.locator("#export-filter-fields input[name=action]")).to_have_count(1)
