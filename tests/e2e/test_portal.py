"""Admin Portal links from both official SDKs, opened in a real browser: the Node SDK's
audit-log link (browse, filter, export, download; nothing else), and the Python SDK's
log-streams link (set up a webhook stream that delivers)."""

import re

from playwright.sync_api import expect
from workos import WorkOSClient

from app.jobs.runner import Runner
from app.streams.delivery import StreamQueue
from tests.conftest import seed_event
from tests.e2e.test_exports import run_jobs
from tests.portal.helpers import node_sdk
from tests.streams.receivers.webhook import WebhookReceiver


def test_node_sdk_link_opens_the_audit_log_and_nothing_else(
    app, page, live_server, api_org, make_key, make_events, screenshot
):
    make_events(
        api_org,
        seed_event(),
        seed_event(action="user.signed_out", actor={"type": "user", "id": "user_2", "name": "Bea"}),
    )
    back = f"{live_server.url}/healthz"  # stands in for the application's page
    status, result = node_sdk(live_server, make_key(api_org), api_org, "audit_logs", back)
    assert status == 0, result
    page.goto(result["link"])
    expect(page).to_have_url(re.compile(rf"/orgs/{api_org}/events$"))
    header = page.locator("header.portal-bar")
    expect(header).to_contain_text("Acme")
    expect(header).to_contain_text("Audit log")
    expect(page.get_by_role("navigation", name="Sections").get_by_role("link")).to_have_text(
        ["Events", "Exports"]
    )
    # The two, the link made and its opening.
    expect(page.locator("#event-rows tr")).to_have_count(4)
    expect(page.locator("#event-rows")).to_contain_text("dashboard.portal_opened")
    page.get_by_label("Actor").fill("user_2")
    expect(page.locator("#event-rows tr")).to_have_count(1)
    screenshot("portal-audit-log")

    page.get_by_role("button", name="Export").click()
    expect(page).to_have_url(re.compile(rf"/orgs/{api_org}/exports"))
    run_jobs(app)
    row = page.locator("#exports-table tr, table tr").filter(has_text="Admin Portal").first
    expect(row).to_contain_text("ready", timeout=15_000)
    with page.expect_download() as download:
        row.get_by_role("link", name=re.compile("Download")).click()
    assert download.value.suggested_filename.endswith(".csv")
    screenshot("portal-exports")

    for outside in (f"/orgs/{api_org}/schemas", f"/orgs/{api_org}/settings", "/account"):
        response = page.goto(outside)
        assert response.status in (403, 404), outside
        expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("main")).to_contain_text("audit log only")
    screenshot("portal-outside")

    page.get_by_role("link", name="Back to the portal").click()
    page.get_by_role("button", name="Back to the app").click()
    expect(page).to_have_url(back)
    page.goto(f"/orgs/{api_org}/events")
    expect(page).to_have_url(re.compile("/login"))  # the session is gone
    page.goto(result["link"])  # and the link was spent
    expect(page.get_by_role("heading", level=1)).to_have_text("This portal link cannot be opened")


def test_python_sdk_link_sets_up_a_log_stream(
    app, page, live_server, api_org, make_key, make_events, screenshot
):
    make_events(api_org, seed_event())
    workos = WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )
    done = f"{live_server.url}/healthz"
    link = workos.admin_portal.generate_link(
        organization=api_org, intent="log_streams", success_url=done, external_user_id="it@cust"
    ).link
    worker = Runner(app, [StreamQueue(poll_seconds=0.2)]).start()
    try:
        with WebhookReceiver() as receiver:
            page.goto(link)
            expect(page).to_have_url(re.compile(rf"/orgs/{api_org}/settings/log-streams$"))
            expect(page.locator("header.portal-bar")).to_contain_text("Log streams")
            expect(page.get_by_role("navigation", name="Settings pages")).to_have_count(0)
            page.get_by_role("link", name="HTTPS webhook").click()
            page.get_by_label("Name").fill("SIEM")
            page.get_by_label("Endpoint URL").fill(receiver.url)
            page.get_by_role("button", name="Create stream").click()
            expect(page.get_by_role("heading", name="SIEM")).to_be_visible()
            receiver.secret = page.locator("#new-secret").input_value()
            worker.notify("streams")
            for _ in range(300):
                if len(receiver.unique_records()) >= 4:
                    break
                page.wait_for_timeout(100)
            actions = [record["action"] for record in receiver.unique_records()]
            assert actions[:4] == [
                "user.signed_in",
                "dashboard.portal_link_created",
                "dashboard.portal_opened",
                "dashboard.log_stream_created",
            ]
            created = receiver.unique_records()[3]
            assert (created["actor"]["type"], created["actor"]["name"]) == (
                "admin_portal",
                "it@cust",
            )
            screenshot("portal-log-streams")
            response = page.goto(f"/orgs/{api_org}/events")
            assert response.status == 403
            page.goto(f"/orgs/{api_org}/settings/log-streams")
            page.get_by_role("link", name="Done").click()
            expect(page).to_have_url(done)
    finally:
        worker.stop()


def test_an_admin_sees_and_revokes_a_running_portal_session(
    app, browser, page, live_server, api_org, make_key, make_user, sign_in, screenshot
):
    workos = WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )
    link = workos.admin_portal.generate_link(
        organization=api_org, intent="audit_logs", external_user_id="auditor@customer.example"
    ).link
    visitor = browser.new_context(base_url=live_server.url).new_page()
    try:
        visitor.goto(link)
        expect(visitor.locator("header.portal-bar")).to_contain_text("Acme")

        sign_in("admin@example.com")
        page.goto(f"/orgs/{api_org}/settings")
        page.get_by_role("navigation", name="Settings pages").get_by_role(
            "link", name="Portal links"
        ).click()
        row = page.get_by_role("row").filter(has_text="auditor@customer.example")
        expect(row).to_contain_text("active")
        screenshot("portal-links")
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Revoke").click()
        expect(row).to_contain_text("revoked")

        visitor.get_by_role("link", name="Exports").click()
        expect(visitor.get_by_role("heading", level=1)).to_have_text(
            "Your portal session has ended"
        )
    finally:
        visitor.context.close()
