"""An organization's retention period and audit log configuration."""

from flask import g

from app import database
from app.api.blueprint import bp, json_body, key_organization, require_own_organization
from app.api.errors import ApiError
from app.retention.services import ALLOWED_DAYS, PERIODS, set_retention
from app.streams import services as streams
from app.trail import services as trail


def retention_json(org):
    """``{"retention_period_in_days": N | null}``."""
    return {"retention_period_in_days": org.retention_period_in_days}


@bp.get("/organizations/<org_id>/audit_logs_retention")
def get_retention(org_id):
    """The organization's retention period."""
    require_own_organization(org_id)
    return retention_json(key_organization())


@bp.put("/organizations/<org_id>/audit_logs_retention")
def put_retention(org_id):
    """Set the retention period, in days or as a named period (not both)."""
    require_own_organization(org_id)
    days = requested_days(json_body())
    with database.writes():
        org = key_organization()
        set_retention(org, days, actor=trail.api_key_actor(g.api_key_id, g.api_key_name))
    return retention_json(org)


def requested_days(body):
    """The days asked for by either body form; 422 for anything else."""

    def invalid(field, message, code="invalid_value"):
        return ApiError(
            422,
            "Validation failed.",
            "validation_failed",
            [{"field": field, "code": code, "message": message}],
        )

    if not isinstance(body, dict):
        raise invalid("", "The body must be an object.", "invalid_type")
    unknown = set(body) - {"retention_period_in_days", "retention_period"}
    if unknown:
        raise invalid(
            sorted(unknown)[0], f"{sorted(unknown)[0]} is not a known field.", "unknown_field"
        )
    has_days, has_period = "retention_period_in_days" in body, "retention_period" in body
    if has_days == has_period:
        raise invalid(
            "retention_period_in_days",
            "Give exactly one of retention_period_in_days and retention_period.",
            "required" if not has_days else "conflict",
        )
    if has_days:
        days = body["retention_period_in_days"]
        if isinstance(days, bool) or not isinstance(days, int) or days not in ALLOWED_DAYS:
            raise invalid(
                "retention_period_in_days",
                "retention_period_in_days must be 30, 60, ... 330, or 365, 730, ... 3650.",
            )
        return days
    period = body["retention_period"]
    if not isinstance(period, str) or period not in PERIODS:
        raise invalid(
            "retention_period",
            "retention_period must be one of 1_MONTH ... 11_MONTHS or 1_YEAR ... 10_YEARS.",
        )
    return PERIODS[period]


@bp.get("/organizations/<org_id>/audit_log_configuration")
def get_configuration(org_id):
    """The organization's audit log configuration, typed as WorkOS types it (docs/streams.md)."""
    require_own_organization(org_id)
    org = key_organization()
    found = {
        "organization_id": org.id,
        "retention_period_in_days": configured_days(org),
        "state": "active",
    }
    stream = streams.configuration_stream(org)
    if stream is not None:
        found["log_stream"] = streams.workos_json(stream)
    return found


def configured_days(org):
    """The retention period as an integer, as WorkOS's typed SDKs need it here: an
    organization that keeps its events forever (no period: ``null`` on the retention
    endpoint) reports the longest period offered, which nothing outlives."""
    days = org.retention_period_in_days
    return days if days is not None else max(ALLOWED_DAYS)
