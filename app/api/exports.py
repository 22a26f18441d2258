"""``POST /audit_logs/exports``, ``GET /audit_logs/exports/{id}`` and the signed download."""

from datetime import datetime

from flask import g, request

from app import database
from app.api.blueprint import bp, json_body, key_organization
from app.api.errors import ApiError
from app.api.events import organization_of
from app.events.filters import CUSTOM, MAX_VALUES, EventFilter
from app.exports import services
from app.exports.shape import ExportRequest
from app.exports.views import send_export
from app.ledger.shape import check_shape
from app.service_errors import ServiceError
from app.timestamps import BOUNDS_TEXT, isoformat, parse_bounded
from app.trail import services as trail
from app.web.json_errors import error_response

RANGE_ERROR = "invalid_audit_log_export_range_date"


def export_json(export):
    """An ``audit_log_export`` object; a ready one carries a fresh signed URL."""
    state = services.visible_state(export)
    return {
        "object": "audit_log_export",
        "id": export.id,
        "state": state.value,
        "url": services.signed_url(export) if state == "ready" else None,
        "created_at": isoformat(export.created_at),
        "updated_at": isoformat(export.updated_at),
    }


@bp.post("/audit_logs/exports")
def create_export():
    """Start an export of the key organization's events in a date range."""
    body = json_body()
    organization_of(body)
    parsed, problems = check_shape(ExportRequest, body)
    names = [*(parsed.actor_names or []), *(parsed.actors or [])] if parsed else []
    if parsed and len(dict.fromkeys(names)) > MAX_VALUES:
        problems.append(
            {
                "field": "actor_names",
                "code": "too_many",
                "message": f"actor_names and actors together must have at most {MAX_VALUES} names.",
            }
        )
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    start, end = export_range(parsed)
    event_filter = EventFilter(
        range=CUSTOM,
        start=start,
        end=end,
        actions=tuple(dict.fromkeys(parsed.actions or ())),
        actor_names=tuple(dict.fromkeys(names)),
        actor_ids=tuple(dict.fromkeys(parsed.actor_ids or ())),
        target_types=tuple(dict.fromkeys(parsed.targets or ())),
    )
    with database.writes():
        export = services.create_export(
            key_organization(),
            event_filter,
            parsed.format,
            api_key_id=g.api_key_id,
            actor=trail.api_key_actor(g.api_key_id, g.api_key_name),
        )
    return export_json(export), 201


def export_range(parsed):
    """The range's two times as aware UTC; 400 if either does not parse or they are out of
    order, every problem at once."""
    problems, found = [], {}
    for name in ("range_start", "range_end"):
        try:
            found[name] = parse_bounded(datetime.fromisoformat, getattr(parsed, name))
        except ValueError as error:
            detail = (
                f"must be {BOUNDS_TEXT}"
                if BOUNDS_TEXT in str(error)
                else "must be an ISO 8601 date and time, such as 2024-01-15T12:00:00.000Z"
            )
            problems.append({"field": name, "message": f"{name} {detail}."})
    if not problems and found["range_start"] >= found["range_end"]:
        problems.append({"field": "range_end", "message": "range_end must be after range_start."})
    if problems:
        raise ApiError(400, " ".join(p["message"] for p in problems), RANGE_ERROR, problems)
    return found["range_start"], found["range_end"]


@bp.get("/audit_logs/exports/<export_id>")
def get_export(export_id):
    """One export of the key's organization (404 for any other)."""
    export = services.get_export(g.api_org_id, export_id)
    if export is None:
        raise ApiError(404, f"Audit log export not found: '{export_id}'.", "not_found")
    return export_json(export)


@bp.get("/audit_logs/exports/<export_id>/download")
def download_export(export_id):
    """The export's file for the holder of a valid signed URL (no API key); 403 otherwise."""
    token = request.args.get("token", "")
    try:
        export, issued_at = services.verify_download(export_id, token)
        if request.method == "HEAD":  # a link preview, not a download: nothing to record
            return send_export(export, services.file_path(export))
        with database.writes():
            path = services.download_export(
                export, url_issued_at=issued_at, ip_address=request.remote_addr
            )
    except (services.InvalidDownload, ServiceError) as error:
        return error_response(403, str(error), "invalid_download_url")
    return send_export(export, path)
