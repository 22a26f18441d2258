"""``POST /portal/generate_link`` and ``POST /portal/revoke_link``, as WorkOS's SDKs call them."""

from flask import g, url_for

from app import database
from app.api.blueprint import bp, json_body, key_organization, require_own_organization
from app.api.errors import ApiError
from app.ledger.shape import check_shape
from app.portal import services
from app.portal.shape import LinkRequest, RevokeRequest
from app.trail import services as trail

# WorkOS fields this service has no use for: refused by name rather than ignored.
UNSUPPORTED = {
    "it_contact_emails": "it_contact_emails is not supported: this service sends no email. "
    "Give the link to the person yourself.",
}


def checked(model):
    """The body checked against ``model``, its organization the key's (404 otherwise)."""
    body = json_body()
    if isinstance(body, dict) and isinstance(body.get("organization"), str):
        require_own_organization(body["organization"])
    problems = [
        {"field": name, "code": "unsupported", "message": message}
        for name, message in UNSUPPORTED.items()
        if isinstance(body, dict) and name in body
    ]
    body = (
        {k: v for k, v in body.items() if k not in UNSUPPORTED} if isinstance(body, dict) else body
    )
    parsed, shape_problems = check_shape(model, body)
    problems += shape_problems
    if problems:
        raise ApiError(422, "Validation failed.", "validation_failed", problems)
    return parsed


def key_actor():
    return trail.api_key_actor(g.api_key_id, g.api_key_name)


@bp.post("/portal/generate_link")
def generate_link():
    """A single-use link to an Admin Portal session of the key's organization."""
    parsed = checked(LinkRequest)
    with database.writes():
        _link, secret = services.generate_link(
            key_organization(),
            parsed.intent,
            actor=key_actor(),
            created_by=f"api_key:{g.api_key_id}",
            return_url=parsed.return_url,
            success_url=parsed.success_url,
            external_user_id=parsed.external_user_id,
        )
    return {"link": url_for("portal.launch", secret=secret, _external=True)}, 201


@bp.post("/portal/revoke_link")
def revoke_link():
    """Revoke the links generated for one ``external_user_id``, ending their sessions."""
    parsed = checked(RevokeRequest)
    with database.writes():
        services.revoke_for_user(
            g.api_org_id,
            parsed.external_user_id,
            key_actor(),
            revoked_by=f"api_key:{g.api_key_id}",
        )
    return "", 204
