"""The schemas pages."""

from flask import Blueprint, render_template

from app.orgs.access import org_view

bp = Blueprint("schemas", __name__)


@bp.get("/orgs/<org_id>/schemas")
@org_view()
def index(org):
    """The organization's configured actions."""
    return render_template("schemas/index.html")
