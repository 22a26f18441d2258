"""The official WorkOS SDKs generate portal links against a live server, changing only
their base URL: Python's ``admin_portal`` and Node's ``portal.generateLink``. Each link
then opens a scoped session over real HTTP."""

import httpx
import pytest
from workos import WorkOSClient
from workos._errors import NotFoundError, UnprocessableEntityError

from tests.portal.helpers import node_sdk


@pytest.fixture
def workos(live_server, api_org, make_key):
    return WorkOSClient(
        api_key=make_key(api_org), client_id="unused", base_url=live_server.url, max_retries=0
    )


def open_in_browser_like_client(link, live_server):
    """Open the link as a browser would: the landing page, in the new session."""
    assert link.startswith(f"{live_server.url}/portal/launch?secret=")
    with httpx.Client(base_url=live_server.url) as browser:
        launched = browser.get(link)
        assert launched.status_code == 303
        page = browser.get(launched.headers["location"])
        again = browser.get(link)
        return launched.headers["location"], page, again


def test_python_sdk_generates_a_link_that_opens_once(workos, live_server, api_org):
    result = workos.admin_portal.generate_link(
        organization=api_org,
        intent="audit_logs",
        return_url="https://app.example.com/",
        external_user_id="it-admin@customer.example",
    )
    landing, page, again = open_in_browser_like_client(result.link, live_server)
    assert landing == f"/orgs/{api_org}/events"
    assert page.status_code == 200 and "Acme" in page.text and "portal-bar" in page.text
    assert again.status_code == 403


def test_python_sdk_log_streams_link_lands_on_the_streams(workos, live_server, api_org):
    result = workos.admin_portal.generate_link(organization=api_org, intent="log_streams")
    landing, page, _again = open_in_browser_like_client(result.link, live_server)
    assert landing == f"/orgs/{api_org}/settings/log-streams"
    assert page.status_code == 200 and "Log streams" in page.text


def test_python_sdk_revoke_link_ends_the_session(workos, live_server, api_org):
    link = workos.admin_portal.generate_link(
        organization=api_org, intent="audit_logs", external_user_id="leaver"
    ).link
    with httpx.Client(base_url=live_server.url) as browser:
        assert browser.get(link).status_code == 303
        assert browser.get(f"/orgs/{api_org}/events").status_code == 200
        assert (
            workos.admin_portal.revoke_link(organization=api_org, external_user_id="leaver") is None
        )
        ended = browser.get(f"/orgs/{api_org}/events")
        assert ended.status_code == 303 and ended.headers["location"] == "/portal/ended"


def test_python_sdk_errors(workos, api_org, make_org):
    with pytest.raises(UnprocessableEntityError):
        workos.admin_portal.generate_link(organization=api_org, intent="sso")
    with pytest.raises(NotFoundError):
        workos.admin_portal.generate_link(organization=make_org("Globex"), intent="audit_logs")


def test_node_sdk_generates_a_link_that_opens_once(live_server, api_org, make_key):
    status, result = node_sdk(
        live_server, make_key(api_org), api_org, "audit_logs", "https://app.example.com/"
    )
    assert status == 0, result
    assert list(result) == ["link"]
    landing, page, again = open_in_browser_like_client(result["link"], live_server)
    assert landing == f"/orgs/{api_org}/events"
    assert page.status_code == 200 and "Acme" in page.text
    assert again.status_code == 403


def test_node_sdk_sees_our_errors(live_server, api_org, make_key, make_org):
    status, error = node_sdk(live_server, make_key(api_org), api_org, "dsync")
    assert status == 1 and error["status"] == 422
    status, error = node_sdk(live_server, make_key(api_org), make_org("Globex"), "log_streams")
    assert status == 1 and error["status"] == 404
