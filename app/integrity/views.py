"""The integrity page: the chain head, the purge checkpoint, and "Verify integrity" runs
in the background with their progress."""

from flask import Blueprint, abort, flash, make_response, redirect, render_template, url_for
from flask_login import current_user

from app import database
from app.integrity import services
from app.integrity.forms import VerifyForm
from app.orgs.access import org_view
from app.service_errors import ServiceError
from app.web.htmx import vary_on_htmx, wants_partial
from app.web.lookups import or_404

bp = Blueprint("integrity", __name__)


def page_context(org, run=None):
    """What the page and its partials show."""
    runs = services.recent_runs(org.id)
    return {
        "head": services.chain_status(org.id),
        "run": run or services.active_run(org.id) or (runs[0] if runs else None),
        "runs": runs,
        "form": VerifyForm(),
        "is_stale": services.is_stale,
    }


@bp.get("/orgs/<org_id>/integrity")
@org_view()
def index(org):
    """The chain head and the verification runs."""
    return vary_on_htmx(make_response(render_template("integrity/index.html", **page_context(org))))


@bp.post("/orgs/<org_id>/integrity/verify")
@org_view()
def start(org):
    """Start a verification in the background; the page then polls its progress."""
    if not VerifyForm().validate_on_submit():
        abort(400)
    try:
        with database.writes():
            run = services.create_run(org, current_user)
    except ServiceError as error:
        run = services.active_run(org.id)
        if not wants_partial():
            flash(error.message, "info")
    else:
        services.start_run(run)
    if not wants_partial():
        return redirect(url_for("integrity.index", org_id=org.id), code=303)
    return render_run(org, run, 202)


@bp.get("/orgs/<org_id>/integrity/runs/<run_id>")
@org_view()
def show_run(org, run_id):
    """One run: the partial the page polls while it runs, or the whole page."""
    run = or_404(services.get_run(org.id, run_id))
    if not wants_partial():
        return vary_on_htmx(
            make_response(render_template("integrity/index.html", **page_context(org, run)))
        )
    return render_run(org, run)


def render_run(org, run, status=200):
    """The run partial; once the run has finished, the runs table is refreshed with it.
    Without a run (the one that was running has just finished), the latest run."""
    context = page_context(org, run)
    run = context["run"]
    html = render_template("integrity/_run.html", oob_runs=run is None or run.finished, **context)
    return vary_on_htmx(make_response(html, status))
