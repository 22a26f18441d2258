"""The home redirect, creating organizations, and an organization's general and member settings."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from app import database
from app.orgs import services
from app.orgs.access import org_view
from app.orgs.forms import AddMemberForm, ConfirmForm, OrganizationForm, RoleForm
from app.orgs.models import Role
from app.service_errors import ServiceError
from app.trail import services as trail
from app.web.form_errors import show_service_error
from app.web.lookups import or_404

bp = Blueprint("orgs", __name__)


@bp.get("/")
@login_required
def index():
    """Send the user to their first organization's events."""
    memberships = services.memberships_of(current_user)
    if memberships:
        return redirect(url_for("events.index", org_id=memberships[0].organization_id))
    return render_template("orgs/no_organization.html")


@bp.route("/orgs/new", methods=["GET", "POST"])
@database.writes
@login_required
def new():
    """Create an organization (superusers only); its creator becomes its admin."""
    if not current_user.is_superuser:
        abort(403)
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            org = services.create_organization(
                form.name.data, admin=current_user, actor=trail.user_actor(current_user)
            )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(f"{org.name} has been created.", "success")
            return redirect(url_for("events.index", org_id=org.id), code=303)
    return render_template("orgs/new.html", form=form), 422 if request.method == "POST" else 200


@bp.get("/orgs/<org_id>/")
@org_view()
def home(org):
    """An organization's address leads to its events."""
    return redirect(url_for("events.index", org_id=org.id))


def render_settings(org, status=200, org_form=None, add_form=None):
    """The settings page, with any form that failed shown with its errors."""
    return render_template(
        "orgs/settings.html",
        org_form=org_form or OrganizationForm(obj=org),
        add_form=add_form or AddMemberForm(),
        members=services.members_of(org),
        role_form=RoleForm(),
        confirm_form=ConfirmForm(),
    ), status


@bp.get("/orgs/<org_id>/settings")
@org_view(Role.ADMIN)
def settings(org):
    """The organization's name and members."""
    return render_settings(org)


@bp.post("/orgs/<org_id>/settings")
@database.writes
@org_view(Role.ADMIN)
def rename(org):
    """Rename the organization."""
    form = OrganizationForm()
    if form.validate_on_submit():
        try:
            services.rename_organization(org, form.name.data, actor=trail.user_actor(current_user))
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash("The organization has been renamed.", "success")
            return redirect(url_for("orgs.settings", org_id=org.id), code=303)
    return render_settings(org, 422, org_form=form)


@bp.post("/orgs/<org_id>/members")
@database.writes
@org_view(Role.ADMIN)
def add_member(org):
    """Add a member by email with a role."""
    form = AddMemberForm()
    if form.validate_on_submit():
        try:
            membership = services.add_member(
                org,
                form.email.data,
                form.role.data,
                password=form.password.data,
                actor=trail.user_actor(current_user),
            )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash(f"{membership.user.email} is now a member ({membership.role.value}).", "success")
            return redirect(url_for("orgs.settings", org_id=org.id), code=303)
    return render_settings(org, 422, add_form=form)


@bp.post("/orgs/<org_id>/members/<int:membership_id>/role")
@database.writes
@org_view(Role.ADMIN)
def change_role(org, membership_id):
    """Change a member's role (never demoting the last admin)."""
    membership = or_404(services.get_membership(org, membership_id))
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.change_role(membership, form.role.data, actor=trail.user_actor(current_user))
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(f"{membership.user.email} is now {membership.role.value}.", "success")
    return redirect(url_for("orgs.settings", org_id=org.id), code=303)


@bp.post("/orgs/<org_id>/members/<int:membership_id>/remove")
@database.writes
@org_view(Role.ADMIN)
def remove_member(org, membership_id):
    """Remove a member (never the last admin)."""
    membership = or_404(services.get_membership(org, membership_id))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    email = membership.user.email
    try:
        services.remove_member(membership, actor=trail.user_actor(current_user))
    except ServiceError as error:
        flash(error.message, "error")
    else:
        flash(f"{email} has been removed.", "success")
    return redirect(url_for("orgs.settings", org_id=org.id), code=303)
