"""An admin configures actions in the browser, then sends events that the API checks.

Also the issue's "done when": the seed's action configured by someone who never read the
API documentation, whose copied examples (curl and the Python SDK) are accepted as is.
"""

import json
import os
import re
import subprocess
import sys

import httpx
from playwright.sync_api import expect

from app.orgs.models import Role
from app.timestamps import isoformat, utcnow


def send_event(live_server, secret, org_id, event):
    """POST one event to the live server's API."""
    return httpx.post(
        f"{live_server.url}/audit_logs/events",
        json={"organization_id": org_id, "event": event},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=10,
    )


def document_event(**changes):
    event = {
        "action": "document.shared",
        "occurred_at": isoformat(utcnow()),
        "actor": {"type": "user", "id": "user_1"},
        "targets": [{"type": "document", "id": "doc_1"}, {"type": "user", "id": "user_2"}],
        "context": {"location": "203.0.113.7"},
        "metadata": {"permission": "edit"},
    }
    event.update(changes)
    return event


def metadata_section(page, title):
    """One of the form's metadata sections (a <details>), opened."""
    section = page.locator("details.metadata-section").filter(
        has=page.locator("summary", has_text=title)
    )
    if section.get_attribute("open") is None:
        section.locator("summary").click()
    return section


def test_admin_configures_an_action_sends_events_and_edits_it(
    page, sign_in, make_org, make_user, make_key, live_server, screenshot
):
    acme = make_org("Acme")
    make_user("ann@example.com", acme, Role.ADMIN)
    sign_in("ann@example.com")
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Schemas").click()
    expect(page.get_by_role("heading", name="No actions configured yet")).to_be_visible()
    screenshot("schemas-empty")

    page.get_by_role("link", name="Configure your first action").click()
    expect(page.get_by_role("heading", name="New action")).to_be_visible()
    page.get_by_label("Action name").fill("document.shared")
    page.locator('[name="targets-0-type"]').fill("document")

    # A second target type row, added by htmx without a reload and focused for typing.
    marker = page.evaluate("() => (window.__sameDocument = true)")
    page.get_by_role("button", name="+ Add a target type").click()
    second = page.locator('[name="targets-1-type"]')
    expect(second).to_be_focused()
    second.fill("document")  # a duplicate, to see it refused
    # A third, removed again.
    page.get_by_role("button", name="+ Add a target type").click()
    expect(page.locator('[name="targets-2-type"]')).to_be_visible()
    page.locator(".target-row").nth(2).get_by_role("button", name="Remove").click()
    expect(page.locator('[name="targets-2-type"]')).to_have_count(0)
    assert page.evaluate("() => window.__sameDocument") is marker is True

    # Event metadata: one required text field.
    event_metadata = metadata_section(page, "Event metadata")
    event_metadata.get_by_role("button", name="+ Add a field").click()
    key = event_metadata.locator('[name="metadata-rows-0-key"]')
    expect(key).to_be_focused()
    key.fill("permission")
    event_metadata.get_by_label("Required").check()
    screenshot("schemas-form")

    # Advanced mode: a pasted JSON Schema with a nested property, which metadata never is.
    actor = metadata_section(page, "Actor metadata")
    actor.get_by_label("JSON Schema", exact=True).first.check()
    actor_json = actor.locator('[name="actor-json_schema"]')
    expect(actor_json).to_be_visible()
    expect(actor.get_by_role("button", name="+ Add a field")).to_be_hidden()
    actor_json.fill('{"type": "object", "properties": {"team": {"type": "object"}}}')

    page.get_by_role("button", name="Create action").click()
    expect(page.get_by_role("alert").first).to_contain_text("The action was not created")
    expect(page.get_by_text("'document' is listed twice")).to_be_visible()
    expect(
        page.get_by_text(
            "properties.team.type must be one of string, number, boolean "
            "(metadata values are never nested)."
        )
    ).to_be_visible()
    # Everything typed is still there.
    expect(page.get_by_label("Action name")).to_have_value("document.shared")
    expect(page.locator('[name="metadata-rows-0-key"]')).to_have_value("permission")
    expect(page.locator('[name="metadata-rows-0-required"]')).to_be_checked()
    expect(page.locator('[name="actor-json_schema"]')).to_contain_text('"team"')
    screenshot("schemas-form-invalid")

    page.locator('[name="targets-1-type"]').fill("user")
    # Back to fields (none): the actor's metadata is not validated after all.
    page.locator('[name="actor-mode"][value="fields"]').check()
    expect(page.locator('[name="actor-json_schema"]')).to_be_hidden()
    page.get_by_role("button", name="Create action").click()
    expect(page).to_have_url(re.compile(f"/orgs/{acme}/schemas/actions/document.shared$"))
    expect(page.get_by_text("document.shared is configured (version 1)")).to_be_visible()
    screenshot("schemas-action")

    # The API now takes the action, with its rules.
    secret = make_key(acme)
    accepted = send_event(live_server, secret, acme, document_event())
    assert accepted.status_code == 200, accepted.text
    refused = send_event(live_server, secret, acme, document_event(metadata={"via": "email"}))
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"instancePath": "/metadata", "message": "'permission' is a required property"}
    ]
    only_one_target = send_event(
        live_server, secret, acme, document_event(targets=[{"type": "document", "id": "d"}])
    )
    assert only_one_target.status_code == 400
    assert (
        "needs at least one target of type 'user'" in only_one_target.json()["errors"][0]["message"]
    )

    # Version 2: the user target goes, the actor's plan is checked.
    page.get_by_role("link", name="Edit (new version)").click()
    expect(page.get_by_role("heading", name="New version of document.shared")).to_be_visible()
    page.locator(".target-row").filter(has=page.locator('[name="targets-1-type"]')).get_by_role(
        "button", name="Remove"
    ).click()
    actor = metadata_section(page, "Actor metadata")
    actor.get_by_role("button", name="+ Add a field").click()
    actor.locator('[name="actor-rows-0-key"]').fill("plan")
    actor.locator('[name="actor-rows-0-type"]').select_option("number")
    page.get_by_role("button", name="Save version 2").click()

    expect(page.get_by_text("Version 2 of document.shared is saved")).to_be_visible()
    history = page.locator(".version").first
    expect(history).to_contain_text("Version 2")
    expect(history.locator(".change-removed")).to_contain_text("Target type user")
    expect(history.locator(".change-added").nth(0)).to_contain_text(
        "Actor metadata is now validated"
    )
    expect(history.locator(".change-added").nth(1)).to_contain_text(
        "Actor metadata field plan (number, optional)"
    )
    expect(page.get_by_text("latest · used by the examples")).to_be_visible()
    expect(page.locator("#example-curl")).to_contain_text('"version": 2')
    screenshot("schemas-version-2")

    v2 = document_event(version=2, targets=[{"type": "document", "id": "d"}])
    assert send_event(live_server, secret, acme, v2).status_code == 200
    v2_bad_plan = document_event(
        version=2,
        targets=[{"type": "document", "id": "d"}],
        actor={"type": "user", "id": "u", "metadata": {"plan": "pro"}},
    )
    refused = send_event(live_server, secret, acme, v2_bad_plan)
    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        {"instancePath": "/actor/metadata/plan", "message": "'pro' is not of type 'number'"}
    ]

    page.get_by_role("link", name="Schemas", exact=True).first.click()
    row = page.get_by_role("row").filter(has_text="document.shared")
    expect(row).to_contain_text("v2")
    expect(row).to_contain_text("actor")
    expect(row.locator("td.numeric")).to_have_text("2")  # the two accepted events
    screenshot("schemas-list")

    page.set_viewport_size({"width": 390, "height": 844})
    screenshot("schemas-list-mobile")
    row.get_by_role("link", name="document.shared").click()
    screenshot("schemas-action-mobile")
    page.get_by_role("link", name="Edit (new version)").click()
    metadata_section(page, "Event metadata")
    screenshot("schemas-form-mobile")


def test_the_seed_example_configured_in_the_browser_runs_as_copied(
    page, sign_in, make_org, make_user, make_key, live_server, screenshot, tmp_path
):
    acme = make_org("Acme")
    make_user("ann@example.com", acme, Role.ADMIN)
    sign_in("ann@example.com")
    page.goto(f"/orgs/{acme}/schemas/new")
    page.get_by_label("Action name").fill("user.signed_in")
    page.locator('[name="targets-0-type"]').fill("team")
    page.get_by_role("button", name="Create action").click()
    expect(page.get_by_role("heading", name="Send a test event")).to_be_visible()
    expect(page.get_by_role("link", name="Settings → API keys")).to_have_attribute(
        "href", f"/orgs/{acme}/settings/api-keys"
    )
    screenshot("schemas-seed-action")

    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    env = {**os.environ, "AUDIT_LOG_API_KEY": make_key(acme)}

    page.locator('[data-copy="#example-curl"]').click()
    expect(page.locator('[data-copy="#example-curl"]')).to_have_text("Copied")
    curl = page.evaluate("() => navigator.clipboard.readText()")
    assert curl.startswith(f"curl -X POST {live_server.url}/audit_logs/events")
    # Run it as copied; a wrapper only adds the status code to what curl prints.
    script = 'curl() { command curl -sS -w "\\nHTTP %{http_code}" "$@"; }\n' + curl + "\n"
    result = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "HTTP 200"
    assert json.loads(body) == {"success": True}

    page.locator('[data-copy="#example-python"]').click()
    python = page.evaluate("() => navigator.clipboard.readText()")
    assert f'base_url="{live_server.url}/"' in python
    snippet = tmp_path / "send_event.py"
    snippet.write_text(python)
    result = subprocess.run(
        [sys.executable, str(snippet)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Event accepted."

    page.reload()
    expect(page.get_by_text("2 events in the last 30 days")).to_be_visible()
