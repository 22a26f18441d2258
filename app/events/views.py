"""The event viewer."""

from flask import Blueprint, render_template

from app.orgs.access import org_view

bp = Blueprint("events", __name__)


@bp.get("/orgs/<org_id>/events")
@org_view()
def index(org):
    """The organization's event stream."""
    return render_template("events/index.html")
