"""A portal session reaches its intent's pages of its organization, and nothing else.

Every route of the app is walked (read from the URL map, so a route added later is walked
too) with a portal session of each intent: its own pages answer, every other page is 403
or 404, and another organization's pages are 404. A crawler then follows every link and
form of the portal's pages and finds none that leads out of its scope.
"""

import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest

from tests.conftest import csrf_token_from
from tests.portal.helpers import open_portal

INTENTS = ["audit_logs", "log_streams"]
# The portal's own doors (leave ends the session), and what anyone may fetch: files, the
# API's description, the liveness check (neither opens a session or shows data).
UNWALKED = {
    "static",
    "portal.launch",
    "portal.leave",
    "portal.ended",
    "health.healthz",
    "api.openapi",
}


def routes(app):
    """(rule, method, view) for every route of the app but the unwalked ones."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint in UNWALKED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, app.view_functions[rule.endpoint]


def url_of(app, rule, org_id):
    values = {name: f"{name}_placeholder" for name in rule.arguments}
    if "org_id" in rule.arguments:
        values["org_id"] = org_id
    if "membership_id" in rule.arguments:
        values["membership_id"] = 1
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def call(client, method, url, token):
    if method == "GET":
        return client.get(url)
    return client.open(url, method=method, data={"csrf_token": token, "format": "csv"})


@pytest.fixture
def portal(app, client, api):
    """A portal session of ``intent`` in ``client``: returns a CSRF token of its pages."""

    def start(intent):
        landing = open_portal(client, api, intent)
        assert landing.status_code == 303
        return csrf_token_from(client.get(landing.headers["Location"]).get_data(as_text=True))

    return start


@pytest.mark.parametrize("intent", INTENTS)
def test_every_route_outside_the_intent_is_403_or_404(app, client, api, api_org, portal, intent):
    token = portal(intent)
    walked = in_scope = 0
    for rule, method, view in routes(app):
        url = url_of(app, rule, api_org)
        status = call(client, method, url, token).status_code
        walked += 1
        if rule.endpoint.startswith("api."):
            # The API answers API keys (and signed URLs) only: a portal's cookie is no
            # credential there.
            assert status in (401, 403, 404, 405), f"{method} {url} gave {status}"
        elif intent in getattr(view, "portal_intents", ()):
            in_scope += 1
            allowed = (200, 302, 303, 422) + ((404,) if "_placeholder" in url else ())
            assert status in allowed, f"{method} {url} gave {status}"
        else:
            assert status in (403, 404), f"{method} {url} gave {status}"
    assert walked > 60 and in_scope >= 6
    # The walk did not end the session (a 303 to /portal/ended would have passed above).
    assert (
        client.get(
            url_of(
                app,
                app.url_map._rules_by_endpoint[
                    "events.index" if intent == "audit_logs" else "streams.index"
                ][0],
                api_org,
            )
        ).status_code
        == 200
    )


@pytest.mark.parametrize("intent", INTENTS)
def test_another_organizations_pages_are_404(app, client, api, make_org, portal, intent):
    other = make_org("Globex")
    token = portal(intent)
    for rule, method, _view in routes(app):
        if "org_id" not in rule.arguments or rule.endpoint.startswith("api."):
            continue
        url = url_of(app, rule, other)
        assert call(client, method, url, token).status_code == 404, f"{method} {url}"


def test_only_the_events_exports_and_streams_pages_are_open_to_portals(app):
    """What each intent reaches, named: a view opened to a portal is a decision."""
    opened = {
        intent: sorted(
            endpoint
            for endpoint, view in app.view_functions.items()
            if intent in getattr(view, "portal_intents", ())
        )
        for intent in INTENTS
    }
    assert {e.split(".")[0] for e in opened["audit_logs"]} == {"events", "exports"}
    assert {e.split(".")[0] for e in opened["log_streams"]} == {"streams"}


LINK = re.compile(r'(?:href|action|hx-get|hx-post|src)="([^"#]+)', re.I)


@pytest.mark.parametrize("intent", INTENTS)
def test_no_link_or_form_on_the_portals_pages_leads_out(
    app, client, api, api_org, make_events, portal, intent
):
    from tests.conftest import seed_event

    make_events(api_org, seed_event(), seed_event(action="user.signed_out"))
    portal(intent)
    start = (
        f"/orgs/{api_org}/events"
        if intent == "audit_logs"
        else f"/orgs/{api_org}/settings/log-streams"
    )
    seen, queue, leaving = set(), [start], []
    while queue and len(seen) < 200:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        response = client.get(url)
        if response.status_code in (403, 404):
            leaving.append(url)
            continue
        if response.mimetype != "text/html":
            continue
        for found in LINK.findall(response.get_data(as_text=True)):
            target = urljoin(url, unescape(found))
            parts = urlsplit(target)
            if parts.netloc or parts.path.startswith("/static/") or parts.path == "/portal/leave":
                continue
            queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    assert leaving == []
    assert len(seen) > 3
