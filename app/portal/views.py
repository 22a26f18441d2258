"""Opening a portal link, confining its session to its scope, leaving it; and the
dashboard's Settings -> Portal links (the organization's links, revoking one)."""

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import logout_user

from app import database
from app.orgs.access import PortalGrant, current_actor, org_view
from app.orgs.forms import ConfirmForm
from app.orgs.models import Role
from app.portal import services
from app.portal.models import LinkState
from app.timestamps import utcnow
from app.web.lookups import or_404

bp = Blueprint("portal", __name__)

SESSION_KEY = "portal_link"
ENDED_KEY = "portal_ended_return_url"
# What a portal session may always reach, whatever its intent.
OPEN_ENDPOINTS = {"static", "portal.launch", "portal.leave", "portal.ended"}


@bp.get("/portal/launch")
def launch():
    """Open a link (once): the browser's session becomes the link's portal session, and
    lands on its intent's page. Anyone signed in to the dashboard here is signed out."""
    secret = request.args.get("secret", "")
    try:
        with database.writes():
            link = services.open_link(secret, request.remote_addr)
    except services.LinkRefused as refused:
        status = 404 if refused.reason == "unknown" else 403
        if refused.link is not None:  # the refusal itself was recorded: keep it
            with database.writes():
                services.record_refusal(refused.link, refused.reason)
        response = render_template(
            "portal/refused.html",
            message=refused.message,
            return_url=refused.link.return_url if refused.link else None,
        )
        return response, status
    session.clear()
    logout_user()
    session[SESSION_KEY] = link.id
    session.permanent = False
    return redirect(url_for(services.LANDING[link.intent], org_id=link.organization_id), 303)


@bp.post("/portal/leave")
def leave():
    """End the portal session, back to the application that opened it."""
    grant = g.get("portal")
    if grant is None:
        return redirect(url_for("portal.ended"), 303)
    with database.writes():
        services.close(services.find_link(grant.link_id))
    session.clear()
    return redirect(grant.return_url or url_for("portal.ended"), 303)


@bp.get("/portal/ended")
def ended():
    """Where a session that ran out (or was revoked, or left) ends up."""
    return render_template("portal/refused.html", ended=True, return_url=session.get(ENDED_KEY))


def confine():
    """Before every request: a portal session reaches its intent's pages and nothing else.

    Another organization's page is 404, as for a non-member; any other page 403. A
    session that ended (expired, revoked, left) is forgotten, and the visitor told.
    """
    link_id = session.get(SESSION_KEY)
    if link_id is None:
        return None
    link = services.active_link(link_id)
    if link is None:
        return end_session(link_id)
    g.portal = PortalGrant(
        link_id=link.id,
        organization=link.organization,
        intent=link.intent,
        actor=services.portal_actor(link),
        return_url=link.return_url,
        success_url=link.success_url,
        session_expires_at=link.session_expires_at,
    )
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    org_id = (request.view_args or {}).get("org_id")
    if org_id is not None and org_id != link.organization_id:
        abort(404)
    view = current_app.view_functions.get(request.endpoint)
    if link.intent not in getattr(view, "portal_intents", ()):
        abort(404 if view is None else 403)
    return None


def end_session(link_id):
    """The session's link no longer runs: forget it, and say so (htmx: the whole window)."""
    link = services.find_link(link_id)
    session.clear()
    session[ENDED_KEY] = link.return_url if link is not None else None
    if request.endpoint in ("static", "portal.launch", "portal.ended"):
        return None
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 403)
        response.headers["HX-Redirect"] = url_for("portal.ended")
        return response
    return redirect(url_for("portal.ended"), 303)


@bp.get("/orgs/<org_id>/settings/portal-links")
@org_view(Role.ADMIN)
def index(org):
    """The organization's latest portal links and their state; active ones can be revoked."""
    now = utcnow()
    links = [(link, link.state(now)) for link in services.links_of(org.id)]
    return render_template(
        "portal/links.html", links=links, states=LinkState, form=ConfirmForm(), now=now
    )


@bp.post("/orgs/<org_id>/settings/portal-links/<link_id>/revoke")
@database.writes
@org_view(Role.ADMIN)
def revoke(org, link_id):
    """Revoke a link: unopened, it no longer opens; open, its session ends now."""
    link = or_404(services.get_link(org.id, link_id))
    actor = current_actor()
    if services.revoke(link, actor, revoked_by=f"{actor.type}:{actor.name}"):
        flash(f"Portal link {link.id} revoked: its session, if open, has ended.", "success")
    else:
        flash(f"Portal link {link.id} was already revoked.", "info")
    return redirect(url_for("portal.index", org_id=org.id), 303)
