"""Who may open an organization's pages: members only (404 for others), admins for changes."""

from functools import wraps

from flask import abort, g
from flask_login import current_user, login_required

from app.orgs.models import Role
from app.orgs.services import membership_for


def org_view(role=Role.VIEWER):
    """Decorate a view under ``/orgs/<org_id>/``: it receives the organization instead of its id.

    Non-members get 404, as if the organization did not exist; members whose role is below
    ``role`` get 403. ``g.org`` and ``g.membership`` are set for the templates.
    """

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(org_id, **kwargs):
            membership = membership_for(current_user, org_id)
            if membership is None:
                abort(404)
            g.org = membership.organization
            g.membership = membership
            if role == Role.ADMIN and not membership.is_admin:
                abort(403)
            return view(membership.organization, **kwargs)

        wrapped.required_role = Role(role)
        return wrapped

    return decorator
