"""The exports page."""

from flask import Blueprint, render_template

from app.orgs.access import org_view

bp = Blueprint("exports", __name__)


@bp.get("/orgs/<org_id>/exports")
@org_view()
def index(org):
    """The organization's exports."""
    return render_template("exports/index.html")
