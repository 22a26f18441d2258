"""``GET /healthz``: liveness for load balancers and orchestrators (touches no database)."""

from flask import Blueprint

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and serving requests."""
    return {"status": "ok"}
