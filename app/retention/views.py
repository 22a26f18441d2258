"""Settings → Retention: how long the organization keeps its events."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user

from app import database
from app.integrity import verify
from app.orgs.access import org_view
from app.orgs.models import Role
from app.retention import services
from app.retention.forms import RetentionForm
from app.service_errors import ServiceError
from app.timestamps import utcnow
from app.trail import services as trail
from app.web.form_errors import show_service_error

bp = Blueprint("retention", __name__)


def render_settings(org, form=None, status=200):
    """The retention page: the form, the purge checkpoint and what is due now (read, never
    committed: a GET changes nothing)."""
    if form is None:
        days = org.retention_period_in_days
        form = RetentionForm(data={"retention_period_in_days": str(days) if days else None})
    plan = services.purge_plan(utcnow(), org.id)
    return render_template(
        "retention/settings.html",
        form=form,
        head=verify.read_head(org.id),
        due=plan[0] if plan else None,
    ), status


@bp.get("/orgs/<org_id>/settings/retention")
@org_view(Role.ADMIN)
def settings(org):
    """The organization's retention period."""
    return render_settings(org)


@bp.post("/orgs/<org_id>/settings/retention")
@org_view(Role.ADMIN)
def change(org):
    """Set the retention period (the service records the change in the organization's log)."""
    form = RetentionForm()
    if form.validate_on_submit():
        try:
            with database.writes():
                services.set_retention(
                    org,
                    int(form.retention_period_in_days.data),
                    actor=trail.user_actor(current_user),
                )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(
                f"Events are now kept for {org.retention_period_in_days} days after they are "
                "received.",
                "success",
            )
            return redirect(url_for("retention.settings", org_id=org.id), code=303)
    # Nothing was changed: what is due is counted in a read, without the write lock.
    return render_settings(org, form, 422)
