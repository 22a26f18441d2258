"""``POST /audit_logs/events`` and ``POST /audit_logs/events/batch``."""

import json

from flask import g, request

from app import database
from app.api.blueprint import bp, json_body, require_own_organization
from app.api.errors import ApiError
from app.ingest import services
from app.ledger.shape import BATCH, SINGLE, check_shape
from app.schemas.services import event_problems

MAX_IDEMPOTENCY_KEY = 255


@bp.post("/audit_logs/events")
def create_event():
    """Store one event."""
    org_id, body, accepted = validated_events(
        SINGLE, lambda body, parsed: [(body["event"], parsed["event"], "")]
    )
    return store(org_id, body, accepted, {"success": True})


@bp.post("/audit_logs/events/batch")
def create_events():
    """Store 1 to 1,000 events, all or none."""
    org_id, body, accepted = validated_events(
        BATCH,
        lambda body, parsed: [
            (raw, event, f"/events/{index}")
            for index, (raw, event) in enumerate(zip(body["events"], parsed["events"], strict=True))
        ],
    )
    return store(org_id, body, accepted, {"success": True, "count": len(accepted)})


def validated_events(model, events_of):
    """Parse and check a request body: its organization (404), its shape (422), then each
    event against its schema (400), every problem reported at once.

    ``events_of(body, parsed)`` lists ``(raw event, parsed event, JSON pointer prefix)``.
    Returns ``(organization id, body, [(raw, parsed), ...])``.
    """
    body = json_body()
    org_id = organization_of(body)
    parsed, problems = check_shape(model, body)
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    events = events_of(body, parsed)
    schema_problems = [
        {**problem, "instancePath": prefix + problem["instancePath"]}
        for raw, _event, prefix in events
        for problem in event_problems(org_id, raw)
    ]
    if schema_problems:
        raise ApiError(400, "Invalid Audit Log event.", "invalid_audit_log_event", schema_problems)
    return org_id, body, [(raw, event) for raw, event, _prefix in events]


def organization_of(body):
    """The id of the organization named in the body, which must be the key's (404 otherwise).

    A missing or malformed ``organization_id`` is left for the shape check (422).
    """
    org_id = body.get("organization_id") if isinstance(body, dict) else None
    if isinstance(org_id, str):
        return require_own_organization(org_id)
    return g.api_org_id


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
    """Store the events, then answer; a taken Idempotency-Key replays the first answer."""
    key = idempotency_key()
    fingerprint = services.request_fingerprint(body) if key else None
    idempotency = (key, fingerprint, answer) if key else None
    for _attempt in range(2):
        try:
            stored = services.store_events(org_id, accepted, idempotency)
        except TimeoutError as error:
            raise ApiError(
                503,
                "The events could not be confirmed in time and may or may not be stored: "
                "retry with the same Idempotency-Key.",
                "unavailable",
            ) from error
        if stored:
            return answer, 200
        # A read of its own: an earlier snapshot would predate the writer's commit.
        with database.reads():
            record = services.find_idempotency_record(org_id, key)
        if record is not None:
            return replay(record, fingerprint)
        # The record expired between the claim and the lookup: claim the key afresh.
    raise RuntimeError(f"idempotency key {key!r} could neither be claimed nor found")
