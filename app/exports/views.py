"""The Exports page (list, progress while jobs run, download) and the viewer's Export button."""

from flask import (
    Blueprint,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from app import database
from app.events.filters import EventFilter
from app.exports import services
from app.exports.forms import ExportForm
from app.orgs.access import AUDIT_LOGS, current_account, current_actor, org_view, portal_link_id
from app.service_errors import ServiceError
from app.timestamps import utcnow
from app.web.htmx import vary_on_htmx, wants_partial
from app.web.lookups import or_404

bp = Blueprint("exports", __name__)


def render_exports(org, status=200, problems=None, created=None):
    """The Exports page, or (for htmx polling) just its table."""
    context = {
        "exports": services.exports_of(org),
        "problems": problems or [],
        "created": created or request.args.get("created"),
        "now": utcnow(),
        "services": services,
    }
    template = "exports/_table.html" if wants_partial() else "exports/index.html"
    return vary_on_htmx(make_response(render_template(template, **context), status))


@bp.get("/orgs/<org_id>/exports")
@org_view(portal=AUDIT_LOGS)
def index(org):
    """The organization's exports, newest first; the table polls itself while jobs run."""
    return render_exports(org)


@bp.post("/orgs/<org_id>/exports")
@org_view(portal=AUDIT_LOGS)
def create(org):
    """Export the events the viewer's filters select (sent with the form), then list it."""
    form = ExportForm()
    event_filter = EventFilter.from_args(request.form)
    form.validate_on_submit()  # CSRF is checked before any view (CSRFProtect)
    problems = [f"Filter “{name}”: {message}" for name, message in event_filter.errors.items()]
    problems += form.format.errors
    if problems:
        return render_exports(org, 422, problems=problems)
    try:
        with database.writes():
            export = services.create_export(
                org,
                event_filter,
                form.format.data,
                created_by=current_account(),
                portal_link_id=portal_link_id(),
                actor=current_actor(),
            )
    except ServiceError as error:
        return render_exports(org, 422, problems=[error.message])
    flash(
        f"Export started: a {form.format.data.upper()} file of the events you filtered. "
        "It appears below; download it when it is ready.",
        "success",
    )
    return redirect(url_for("exports.index", org_id=org.id, created=export.id), code=303)


@bp.get("/orgs/<org_id>/exports/<export_id>/download")
@org_view(portal=AUDIT_LOGS)
def download(org, export_id):
    """The export's file, for a member of its organization; the download is recorded."""
    export = or_404(services.get_export(org.id, export_id))
    try:
        if request.method == "HEAD":  # a link preview, not a download: nothing to record
            return send_export(export, services.file_path(export))
        with database.writes():
            path = services.download_export(
                export,
                user=current_account(),
                portal_link_id=portal_link_id(),
                actor=current_actor(),
                ip_address=request.remote_addr,
            )
    except ServiceError as error:
        flash(error.message, "error")
        return redirect(url_for("exports.index", org_id=org.id), code=303)
    return send_export(export, path)


def send_export(export, path):
    """The file as an attachment that no cache keeps."""
    response = send_file(
        path,
        mimetype=services.mimetype(export),
        as_attachment=True,
        download_name=services.download_name(export),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response
