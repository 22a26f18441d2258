"""The schemas pages: the organization's actions, one action's versions and examples, and
the forms that create an action or its next version."""

import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app import database
from app.extensions import db
from app.orgs.access import org_view
from app.orgs.models import Role
from app.schemas import services
from app.schemas.examples import API_KEY_VARIABLE, build_example, compact_json
from app.schemas.forms import MetadataFieldForm, NewActionForm, TargetForm, VersionForm
from app.timestamps import isoformat, utcnow
from app.trail import services as trail

bp = Blueprint("schemas", __name__)

# The lists of metadata rows a form has: the actor's, the event's, each target's.
ROW_LIST_PATTERN = re.compile(r"(actor|metadata|targets-\d{1,3}-metadata)-rows")
MAX_ROW_INDEX = 999


@bp.get("/orgs/<org_id>/schemas")
@org_view()
def index(org):
    """The organization's actions with their latest versions and recent use."""
    return render_template(
        "schemas/index.html",
        actions=services.action_summaries(org.id),
        recent_days=services.RECENT_DAYS,
    )


@bp.route("/orgs/<org_id>/schemas/new", methods=["GET", "POST"])
@database.writes
@org_view(Role.ADMIN)
def new(org):
    """Configure a new action and its first version."""
    form = NewActionForm()
    if not form.is_submitted():
        return render_form(form)
    name = form.name.data
    saved = save(
        form,
        lambda body: services.create_action(
            org, name, body, actor=trail.user_actor(current_user), created_by=author()
        ),
        lambda body: services.action_problems(org, name, body),
    )
    if saved is None:
        return render_form(form, status=422)
    flash(f"{name} is configured (version 1). Send a test event below.", "success")
    return redirect(url_for("schemas.action", org_id=org.id, name=name), code=303)


@bp.get("/orgs/<org_id>/schemas/actions/<name>")
@org_view()
def action(org, name):
    """One action: its latest version, ready-to-run examples and version history."""
    found = services.get_action(org.id, name)
    if found is None:
        return unknown_action(org, name)
    latest = found.latest
    definition = services.definition_of(latest)
    example = build_example(
        request.host_url, org.id, found.name, latest.version, definition, isoformat(utcnow())
    )
    return render_template(
        "schemas/action.html",
        action=found,
        definition=definition,
        definition_json=compact_json(definition),
        history=services.history_of(found),
        example=example,
        api_key_variable=API_KEY_VARIABLE,
        recent_events=services.recent_event_counts(org.id, actions=[found.name]).get(found.name, 0),
        recent_days=services.RECENT_DAYS,
    )


@bp.route("/orgs/<org_id>/schemas/actions/<name>/edit", methods=["GET", "POST"])
@database.writes
@org_view(Role.ADMIN)
def edit(org, name):
    """Create the action's next version, starting from the latest (versions never change)."""
    found = services.get_action(org.id, name)
    if found is None:
        return unknown_action(org, name)
    if request.method != "POST":
        form = VersionForm.for_definition(services.definition_of(found.latest))
        return render_form(form, action=found)
    form = VersionForm()
    saved = save(
        form,
        lambda body: services.create_schema(
            org, found.name, body, actor=trail.user_actor(current_user), created_by=author()
        ),
        lambda body: services.schema_problems(found.name, body),
    )
    if saved is None:
        return render_form(form, action=found, status=422)
    version, created = saved
    if created:
        flash(
            f"Version {version.version} of {found.name} is saved. Applications use it "
            f'by sending "version": {version.version} with their events.',
            "success",
        )
    else:
        flash(f"Nothing changed: version {version.version} is still the latest.", "info")
    return redirect(url_for("schemas.action", org_id=org.id, name=found.name), code=303)


@bp.get("/orgs/<org_id>/schemas/form/target-row")
@org_view(Role.ADMIN)
def target_row(org):
    """One more target type row for the form (htmx), with the button that adds the next."""
    index = row_index()
    target = TargetForm(prefix=f"targets-{index}")
    return render_template("schemas/_target_row.html", target=target, index=index)


@bp.get("/orgs/<org_id>/schemas/form/field-row")
@org_view(Role.ADMIN)
def field_row(org):
    """One more metadata row for one list of the form (htmx), with the next add button."""
    rows = request.args.get("list", "")
    if not ROW_LIST_PATTERN.fullmatch(rows):
        abort(400)
    index = row_index()
    row = MetadataFieldForm(prefix=f"{rows}-{index}")
    return render_template("schemas/_field_row.html", row=row, rows=rows, index=index)


def row_index():
    """The ``index`` query parameter of a new row (400 if it is not a small number)."""
    index = request.args.get("index", type=int)
    if index is None or not 0 <= index <= MAX_ROW_INDEX:
        abort(400)
    return index


def save(form, write, problems_of):
    """Check the form, then write its body through the service (in a savepoint).

    Returns what ``write`` returned, or ``None`` with every problem shown on the form:
    when the form's own checks fail, ``problems_of(body)`` adds the service's verdict on
    the rest, so that one submission reports everything.
    """
    body = form.body()
    if not form.validate():
        form.show_problems(problems_of(body))
        return None
    try:
        with db.session.begin_nested():
            saved = write(body)
    except services.InvalidDefinition as error:
        form.show_problems(error.problems)
    except IntegrityError:  # someone saved the same action at the same moment
        form.form_errors.append(
            "Someone else saved this action at the same moment. Reload the page and try again."
        )
    else:
        return saved
    return None


def render_form(form, action=None, status=200):
    """The new-action form, or the next-version form of ``action``."""
    html = render_template("schemas/form.html", form=form, action=action, invalid=status == 422)
    return html, status


def unknown_action(org, name):
    """An action that is not configured: back to the list, saying so."""
    flash(f"There is no action named “{name}” in {org.name}.", "error")
    return redirect(url_for("schemas.index", org_id=org.id), code=303)


def author():
    """Who is writing a version, as stored with it."""
    return f"user:{current_user.email}"
