"""An organization's API keys in Settings: list, create (the secret is shown once), revoke."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user

from app import database
from app.keys import services
from app.keys.forms import ApiKeyForm
from app.orgs.access import org_view
from app.orgs.forms import ConfirmForm
from app.orgs.models import Role
from app.service_errors import ServiceError
from app.trail import services as trail
from app.web.form_errors import show_service_error
from app.web.lookups import or_404

bp = Blueprint("keys", __name__)


def render_keys(org, status=200, form=None, new_key=None, secret=None):
    """The API keys page; ``secret`` is the new key's, shown in this one response only."""
    html = render_template(
        "keys/index.html",
        form=form or ApiKeyForm(formdata=None),
        keys=services.keys_of(org),
        confirm_form=ConfirmForm(),
        new_key=new_key,
        secret=secret,
    )
    # The page may carry a secret: keep it out of caches and the back-forward history.
    return html, status, {"Cache-Control": "no-store"}


@bp.get("/orgs/<org_id>/settings/api-keys")
@org_view(Role.ADMIN)
def index(org):
    """The organization's keys, revoked ones included, and how to use them."""
    return render_keys(org)


@bp.post("/orgs/<org_id>/settings/api-keys")
@database.writes
@org_view(Role.ADMIN)
def create(org):
    """Create a key and show its secret in this response, never again.

    No redirect: the secret would have to travel through the session cookie, which is
    signed, not encrypted.
    """
    form = ApiKeyForm()
    if form.validate_on_submit():
        try:
            key, secret = services.create_key(
                org, form.name.data, created_by=current_user, actor=trail.user_actor(current_user)
            )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            return render_keys(org, 201, new_key=key, secret=secret)
    return render_keys(org, 422, form=form)


@bp.post("/orgs/<org_id>/settings/api-keys/<key_id>/revoke")
@database.writes
@org_view(Role.ADMIN)
def revoke(org, key_id):
    """Revoke a key for good; it stays listed, marked revoked."""
    key = or_404(services.get_key(org, key_id))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.revoke_key(key, actor=trail.user_actor(current_user))
    flash(f"The key “{key.name}” has been revoked: requests using it are refused.", "success")
    return redirect(url_for("keys.index", org_id=org.id), code=303)
