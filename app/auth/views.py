"""Sign in, sign out, first-run setup and the user's own account page."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app import database
from app.accounts import services as accounts
from app.auth import services
from app.auth.forms import ChangePasswordForm, LoginForm, SetupForm
from app.extensions import db, limiter
from app.service_errors import ServiceError
from app.web.form_errors import show_service_error
from app.web.redirects import safe_next_url

bp = Blueprint("auth", __name__)

BAD_CREDENTIALS = "Email or password is not correct."


def login_rate_limit():
    """The configured allowance of failed sign-ins per client address."""
    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    login_rate_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 303
)
def login():
    """Show the sign-in form; sign in on valid credentials."""
    if current_user.is_authenticated:
        return redirect(url_for("orgs.index"))
    form = LoginForm()
    if form.validate_on_submit():
        # Committed whichever way it goes: a failed sign-in is recorded too.
        with database.writes():
            user = services.sign_in(form.email.data, form.password.data)
        if user is not None:
            login_user(user)
            return redirect(safe_next_url(request.args.get("next")), code=303)
        form.form_errors.append(BAD_CREDENTIALS)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@database.writes
@login_required
def logout():
    """Sign out (POST, so that a link elsewhere cannot sign anyone out)."""
    services.sign_out(current_user)
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/setup", methods=["GET", "POST"])
@database.writes
def setup():
    """Create the first organization and its superuser; gone once any account exists."""
    if accounts.user_count() > 0:
        abort(404)
    form = SetupForm()
    if form.validate_on_submit():
        try:
            with db.session.begin_nested():
                user, org = services.set_up(
                    form.email.data, form.password.data, form.organization.data
                )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            login_user(user)
            flash(f"Welcome! {org.name} is ready.", "success")
            return redirect(url_for("events.index", org_id=org.id), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/setup.html", form=form), status


@bp.route("/account", methods=["GET", "POST"])
@database.writes
@login_required
def account():
    """The signed-in user's organizations and password."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data, form.password.data)
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash("Your password has been changed.", "success")
            return redirect(url_for("auth.account"), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("auth/account.html", form=form), status
