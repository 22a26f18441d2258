"""Who may open an organization's pages: members only (404 for others), admins for changes,
and an Admin Portal session only on the pages of its intent (app/portal/).

A portal session is not a signed-in user: the portal sets ``g.portal`` (a
``PortalGrant``) before any view runs, and refuses every page that does not declare its
intent; ``org_view`` checks it again, so a page is open to a portal only by saying so.
"""

from dataclasses import dataclass
from functools import wraps

from flask import abort, g
from flask_login import current_user

from app.extensions import login_manager
from app.orgs.models import Role
from app.orgs.services import membership_for
from app.trail import services as trail

# The portal intents a view can be opened to (app/portal/models.py's Intent).
AUDIT_LOGS = "audit_logs"
LOG_STREAMS = "log_streams"


@dataclass(frozen=True)
class PortalGrant:
    """What a running portal session may see: one organization, one intent."""

    link_id: str
    organization: object  # the Organization
    intent: str  # "audit_logs" or "log_streams"
    actor: trail.Actor  # who the visitor is in the log
    return_url: str | None
    success_url: str | None
    session_expires_at: object  # datetime


def org_view(role=Role.VIEWER, portal=()):
    """Decorate a view under ``/orgs/<org_id>/``: it receives the organization instead of its id.

    Non-members get 404, as if the organization did not exist; members whose role is below
    ``role`` get 403. ``portal`` names the portal intents (``"audit_logs"``,
    ``"log_streams"``) whose sessions may open the view too; others get 403, and a portal
    session of another organization 404. ``g.org`` and ``g.membership`` (``None`` in a
    portal) are set for the templates.
    """
    intents = (portal,) if isinstance(portal, str) else tuple(portal)

    def decorator(view):
        @wraps(view)
        def wrapped(org_id, **kwargs):
            grant = g.get("portal")
            if grant is not None:
                if grant.organization.id != org_id:
                    abort(404)
                if grant.intent not in intents:
                    abort(403)
                g.org, g.membership = grant.organization, None
                return view(grant.organization, **kwargs)
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            membership = membership_for(current_user, org_id)
            if membership is None:
                abort(404)
            g.org = membership.organization
            g.membership = membership
            if role == Role.ADMIN and not membership.is_admin:
                abort(403)
            return view(membership.organization, **kwargs)

        wrapped.required_role = Role(role)
        wrapped.portal_intents = intents
        return wrapped

    return decorator


def current_actor():
    """Who is acting in this request: the signed-in user, or the portal's visitor."""
    grant = g.get("portal")
    return grant.actor if grant is not None else trail.user_actor(current_user)


def current_account():
    """The signed-in user, or ``None`` in a portal session."""
    return None if g.get("portal") is not None else current_user._get_current_object()


def portal_link_id():
    """The running portal session's link id, or ``None``."""
    grant = g.get("portal")
    return grant.link_id if grant is not None else None
