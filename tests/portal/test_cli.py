"""``flask portal link|list|revoke`` through click's runner."""

from urllib.parse import urlsplit

from tests.portal.helpers import recorded


def test_link_list_and_revoke(app, runner, api_org):
    made = runner.invoke(
        args=[
            "portal",
            "link",
            "--org",
            api_org,
            "--intent",
            "log_streams",
            "--user",
            "it-1",
            "--base-url",
            "https://audit.example.com/",
        ]
    )
    assert made.exit_code == 0, made.output
    link = made.output.strip()
    assert link.startswith("https://audit.example.com/portal/launch?secret=")
    listed = runner.invoke(args=["portal", "list", "--org", api_org])
    assert listed.exit_code == 0
    (line,) = listed.output.splitlines()
    link_id, intent, person, state, *_ = line.split("\t")
    assert (intent, person, state) == ("log_streams", "it-1", "waiting")
    (created,) = recorded(app, api_org, "dashboard.portal_link_created")
    assert created.actor_type == "cli"

    parts = urlsplit(link)
    browser = app.test_client()
    assert browser.get(f"{parts.path}?{parts.query}").status_code == 303
    revoked = runner.invoke(args=["portal", "revoke", link_id, "--org", api_org])
    assert revoked.exit_code == 0 and "Revoked" in revoked.output
    assert (
        browser.get(f"/orgs/{api_org}/settings/log-streams").headers["Location"] == "/portal/ended"
    )
    again = runner.invoke(args=["portal", "revoke", link_id, "--org", api_org])
    assert "already revoked" in again.output


def test_bad_input_is_a_usage_error(app, runner, api_org, make_org):
    bad_url = runner.invoke(
        args=[
            "portal",
            "link",
            "--org",
            api_org,
            "--intent",
            "audit_logs",
            "--return-url",
            "ftp://x",
        ]
    )
    assert bad_url.exit_code == 2 and "http or https" in bad_url.output
    bad_intent = runner.invoke(args=["portal", "link", "--org", api_org, "--intent", "sso"])
    assert bad_intent.exit_code == 2
    unknown = runner.invoke(args=["portal", "link", "--org", "org_nope", "--intent", "audit_logs"])
    assert unknown.exit_code != 0
    other = make_org("Globex")
    made = runner.invoke(args=["portal", "link", "--org", api_org, "--intent", "audit_logs"])
    assert made.exit_code == 0
    link_id = runner.invoke(args=["portal", "list", "--org", api_org]).output.split("\t")[0]
    refused = runner.invoke(args=["portal", "revoke", link_id, "--org", other])
    assert refused.exit_code == 2
