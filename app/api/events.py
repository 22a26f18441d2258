"""``POST /audit_logs/events`` and ``POST /audit_logs/events/batch``."""

import json

from flask import g, request
from sqlalchemy.exc import IntegrityError

from app import database
from app.api.blueprint import bp, json_body, require_own_organization
from app.api.errors import ApiError
from app.events import services
from app.events.shape import BatchRequest, SingleRequest, check_shape
from app.extensions import db
from app.schemas.services import event_problems

MAX_IDEMPOTENCY_KEY = 255


@bp.post("/audit_logs/events")
def create_event():
    """Store one event."""
    body = json_body()
    org = organization_of(body)
    replay = replay_if_seen(org.id, body)
    if replay is not None:
        return replay
    parsed, problems = check_shape(SingleRequest, body)
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    schema_problems = event_problems(org.id, body["event"])
    if schema_problems:
        raise ApiError(400, "Invalid Audit Log event.", "invalid_audit_log_event", schema_problems)
    return store(org.id, body, [(body["event"], parsed.event)], {"success": True})


@bp.post("/audit_logs/events/batch")
def create_events():
    """Store 1 to 1,000 events, all or none."""
    body = json_body()
    org = organization_of(body)
    replay = replay_if_seen(org.id, body)
    if replay is not None:
        return replay
    parsed, problems = check_shape(BatchRequest, body)
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    schema_problems = [
        {**problem, "instancePath": f"/events/{index}{problem['instancePath']}"}
        for index, event in enumerate(body["events"])
        for problem in event_problems(org.id, event)
    ]
    if schema_problems:
        raise ApiError(400, "Invalid Audit Log event.", "invalid_audit_log_event", schema_problems)
    accepted = list(zip(body["events"], parsed.events, strict=True))
    return store(org.id, body, accepted, {"success": True, "count": len(accepted)})


def organization_of(body):
    """The organization named in the body, which must be the key's (404 otherwise).

    A missing or malformed ``organization_id`` is left for the shape check (422).
    """
    org_id = body.get("organization_id") if isinstance(body, dict) else None
    if isinstance(org_id, str):
        return require_own_organization(org_id)
    return g.api_org


def idempotency_key():
    """The request's ``Idempotency-Key``, if any (422 if it is too long)."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            422,
            "Validation failed.",
            "validation_failed",
            [
                {
                    "field": "Idempotency-Key",
                    "code": "too_long",
                    "message": "The Idempotency-Key header must be at most "
                    f"{MAX_IDEMPOTENCY_KEY} characters.",
                }
            ],
        )
    return key or None


def replay_if_seen(org_id, body):
    """The first answer, if this key was used in the last 24 hours (409 for another body)."""
    key = idempotency_key()
    if key is None:
        return None
    record = services.find_idempotency_record(org_id, key)
    return None if record is None else replay(record, services.request_fingerprint(body))


def replay(record, fingerprint):
    """Answer as the first request with this key was answered."""
    if record.request_hash != fingerprint:
        raise ApiError(
            409,
            "This Idempotency-Key was already used with a different request body. "
            "Use a new key for a new request.",
            "idempotency_key_reused",
        )
    return json.loads(record.response_body), record.status_code


def store(org_id, body, accepted, answer):
    """Store the events (and the idempotency record) in one transaction, then answer."""
    key = idempotency_key()
    fingerprint = services.request_fingerprint(body) if key else None
    database.writing()
    try:
        if key:
            services.remember_response(org_id, key, fingerprint, 200, answer)
        services.store_events(org_id, accepted)
        db.session.commit()
    except IntegrityError:
        # Another request with the same key committed first: answer as it was answered.
        db.session.rollback()
        record = services.find_idempotency_record(org_id, key) if key else None
        if record is None:
            raise
        return replay(record, fingerprint)
    return answer, 200
