"""Settings -> Log streams: the organization's streams, their health, and changing them.

Every change goes through app/streams/services.py, which records it in the
organization's log. Deliveries and test events run in the job runner, never here: a
request only asks for them.
"""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from app import database
from app.orgs.access import LOG_STREAMS, current_actor, org_view
from app.orgs.forms import ConfirmForm
from app.orgs.models import Role
from app.service_errors import ServiceError
from app.streams import services
from app.streams.forms import settings_from, stream_form
from app.streams.kinds import all_kinds, kind_named
from app.web.form_errors import show_service_error
from app.web.htmx import wants_partial
from app.web.lookups import or_404

bp = Blueprint("streams", __name__)

NO_STORE = {"Cache-Control": "no-store"}  # a page that may show a secret


@bp.get("/orgs/<org_id>/settings/log-streams")
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def index(org):
    """The organization's streams with their state and lag, and the kinds to add."""
    streams = [(stream, services.health(stream)) for stream in services.streams_of(org)]
    return render_template(
        "streams/index.html",
        streams=streams,
        kinds=all_kinds().values(),
        describe=services.describe,
    )


def known_kind(name):
    try:
        return kind_named(name or "")
    except ServiceError:
        abort(404)


@bp.route("/orgs/<org_id>/settings/log-streams/new/<kind_name>", methods=["GET", "POST"])
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def create(org, kind_name):
    """A new stream of one kind; a webhook's signing secret is shown in this response
    only (no redirect: it would travel through the signed, not encrypted, session)."""
    kind = known_kind(kind_name)
    form = stream_form(kind, name=kind.label)
    if request.method == "POST" and form.validate_on_submit():
        try:
            stream, shown = services.create_stream(
                org,
                kind.name,
                form.name.data,
                settings_from(form, kind),
                secret=getattr(form, "secret", None) and form.secret.data,
                start=form.start.data,
                actor=current_actor(),
            )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            if shown:
                return render_stream(org, stream, status=201, secret=shown)
            flash(f"The stream “{stream.name}” was created; it starts delivering now.", "success")
            return redirect(stream_url(stream), code=303)
    status = 422 if request.method == "POST" else 200
    return render_template("streams/new.html", form=form, kind=kind), status


def stream_url(stream):
    return url_for("streams.show", org_id=stream.organization_id, stream_id=stream.id)


def render_stream(org, stream, status=200, form=None, secret=None):
    """A stream's page: its health (which polls itself), its settings, its actions."""
    kind = kind_named(stream.kind)
    if form is None:
        form = stream_form(
            kind, editing=True, formdata=None, name=stream.name, **stream.parsed_settings
        )
    html = render_template(
        "streams/show.html",
        stream=stream,
        kind=kind,
        health=services.health(stream),
        destination=services.describe(stream),
        form=form,
        confirm_form=ConfirmForm(),
        secret=secret,
    )
    return html, status, NO_STORE


@bp.get("/orgs/<org_id>/settings/log-streams/<stream_id>")
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def show(org, stream_id):
    return render_stream(org, or_404(services.get_stream(org, stream_id)))


@bp.get("/orgs/<org_id>/settings/log-streams/<stream_id>/health")
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def health(org, stream_id):
    """The health card alone, for the page's polling."""
    return render_health(or_404(services.get_stream(org, stream_id)))


def render_health(stream):
    """The health card of a stream (the page polls it; a test request answers with it)."""
    return (
        render_template("streams/_health.html", stream=stream, health=services.health(stream)),
        200,
        NO_STORE,
    )


@bp.post("/orgs/<org_id>/settings/log-streams/<stream_id>")
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def update(org, stream_id):
    """Change the name and settings (an empty secret keeps the current one)."""
    stream = or_404(services.get_stream(org, stream_id))
    kind = kind_named(stream.kind)
    form = stream_form(kind, editing=True)
    if form.validate_on_submit():
        try:
            services.update_stream(
                stream,
                form.name.data,
                settings_from(form, kind),
                secret=getattr(form, "secret", None) and form.secret.data,
                actor=current_actor(),
            )
        except ServiceError as error:
            show_service_error(form, error)
        else:
            flash("The stream's settings were saved; it goes on from where it was.", "success")
            return redirect(stream_url(stream), code=303)
    return render_stream(org, stream, 422, form=form)


def confirmed_stream(org, stream_id):
    stream = or_404(services.get_stream(org, stream_id))
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return stream


@bp.post("/orgs/<org_id>/settings/log-streams/<stream_id>/test")
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def test(org, stream_id):
    """Ask the runner to send a test event; the health card shows the result."""
    stream = confirmed_stream(org, stream_id)
    services.request_test(stream, requested_by=current_actor().name)
    if wants_partial():
        return render_health(stream)
    flash("A test event is on its way.", "success")
    return redirect(stream_url(stream), code=303)


STATE_CHANGES = {
    "pause": (services.pause_stream, "The stream is paused: nothing is sent until you resume it."),
    "resume": (services.resume_stream, "The stream is delivering again, from where it stopped."),
}


def change_state(org, stream_id, verb):
    """Pause (an admin's pause: ``disabled``) or resume a stream."""
    stream = confirmed_stream(org, stream_id)
    change, message = STATE_CHANGES[verb]
    change(stream, actor=current_actor())
    flash(message, "success")
    return redirect(stream_url(stream), code=303)


@bp.post("/orgs/<org_id>/settings/log-streams/<stream_id>/pause")
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def pause(org, stream_id):
    return change_state(org, stream_id, "pause")


@bp.post("/orgs/<org_id>/settings/log-streams/<stream_id>/resume")
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def resume(org, stream_id):
    return change_state(org, stream_id, "resume")


@bp.post("/orgs/<org_id>/settings/log-streams/<stream_id>/rotate")
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def rotate(org, stream_id):
    """A new signing secret, shown in this response only."""
    stream = confirmed_stream(org, stream_id)
    try:
        secret = services.rotate_secret(stream, actor=current_actor())
    except ServiceError:
        abort(404)
    return render_stream(org, stream, secret=secret)


@bp.post("/orgs/<org_id>/settings/log-streams/<stream_id>/delete")
@database.writes
@org_view(Role.ADMIN, portal=LOG_STREAMS)
def delete(org, stream_id):
    stream = confirmed_stream(org, stream_id)
    name = stream.name
    services.delete_stream(stream, actor=current_actor())
    flash(f"The stream “{name}” was deleted. The events stay in the log.", "success")
    return redirect(url_for("streams.index", org_id=org.id), code=303)
