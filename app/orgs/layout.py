"""What the layout needs on every page, and the first-run redirect."""

from flask import current_app, g, redirect, request, url_for
from flask_login import current_user

from app.accounts import services as accounts
from app.orgs import services as orgs
from app.web.json_errors import is_api_request

# Endpoints that work before the first account exists.
SETUP_ENDPOINTS = {"auth.setup", "static", "health.healthz"}


def require_setup():
    """While no account exists, every page leads to the setup page."""
    if current_app.extensions.get("auditlog.setup_done"):
        return None
    if request.endpoint in SETUP_ENDPOINTS or is_api_request(request):
        return None
    if accounts.user_count() > 0:
        # Accounts are never all deleted, so once true this stays true.
        current_app.extensions["auditlog.setup_done"] = True
        return None
    return redirect(url_for("auth.setup"))


def layout_context():
    """The current organization, and ``memberships()``: the signed-in user's organizations
    for the switcher, queried only by a template that calls it (htmx partials do not)."""

    def memberships():
        if not current_user.is_authenticated:
            return []
        return orgs.memberships_of(current_user)

    return {
        "memberships": memberships,
        "current_org": g.get("org"),
        "current_membership": g.get("membership"),
        "portal": g.get("portal"),
    }
