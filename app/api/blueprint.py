"""The API blueprint: authenticated by API key, CSRF-exempt, errors always JSON."""

import orjson
from flask import Blueprint, abort, g, request

from app.api.auth import RateLimited, authenticate_request
from app.api.errors import ApiError
from app.orgs.services import get_organization
from app.web.json_errors import error_response

bp = Blueprint("api", __name__)
bp.before_request(authenticate_request)


@bp.errorhandler(ApiError)
def api_error(error):
    """An ApiError raised by a view."""
    return error_response(error.status, error.message, error.code, error.errors)


@bp.errorhandler(RateLimited)
def rate_limited(error):
    """The key has used its allowance: 429 with Retry-After."""
    return error_response(429, headers={"Retry-After": str(error.retry_after)})


def json_body():
    """The request body parsed as JSON: 415 if it is not JSON, 400 if it does not parse.

    orjson is strict: no NaN or Infinity, UTF-8 only.
    """
    if request.mimetype != "application/json":
        abort(415)
    raw = request.get_data(cache=True)  # 413 past MAX_CONTENT_LENGTH
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise ApiError(400, f"The body is not valid JSON: {error}.", "invalid_json") from error
    if b"u0000" in raw and contains_nul(body):  # PostgreSQL text cannot hold NUL
        raise ApiError(400, "Strings in the body must not contain NUL (\\u0000).", "invalid_json")
    return body


def contains_nul(value):
    """Whether any string (or key) in a parsed JSON value holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(k) or contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False


def require_own_organization(org_id):
    """404, as if it did not exist, unless ``org_id`` is the API key's organization."""
    if org_id != g.api_org_id:
        raise ApiError(404, f"Organization not found: '{org_id}'.", "not_found")
    return org_id


def key_organization():
    """The API key's organization (loaded only by the endpoints that need the object)."""
    return get_organization(g.api_org_id)
