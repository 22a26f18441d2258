"""The API blueprint: authenticated by API key, CSRF-exempt, errors always JSON."""

import orjson
from flask import Blueprint, abort, g, jsonify, request

from app.api.auth import RateLimited, authenticate_request
from app.api.errors import ApiError
from app.orgs.services import get_organization

bp = Blueprint("api", __name__)
bp.before_request(authenticate_request)

# Error bodies per status where the contract fixes them; others use the HTTP phrase.
CONTRACT_ERRORS = {
    401: ("Unauthorized", "unauthorized"),
    404: ("Not found.", "not_found"),
    405: ("Method not allowed.", "method_not_allowed"),
    413: ("The request body is larger than the limit of 1 MiB.", "payload_too_large"),
    415: ("Send the body as JSON with Content-Type: application/json.", "unsupported_media_type"),
    429: ("Too many requests.", "rate_limit_exceeded"),
}


def error_response(status, message=None, code=None, errors=None, headers=None):
    """A JSON error body as the contract describes: message, code and errors when they apply."""
    default_message, default_code = CONTRACT_ERRORS.get(status, (None, None))
    body = {"message": message or default_message or "The request could not be handled."}
    if code or default_code:
        body["code"] = code or default_code
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


API_PATH_PREFIXES = ("/audit_logs/", "/organizations/", "/openapi.json")


def is_api_request(request):
    """Whether a request is for the API (also when no route matched it)."""
    return request.blueprint == "api" or request.path.startswith(API_PATH_PREFIXES)


def http_error(error):
    """Any HTTP error raised inside the API becomes a JSON body."""
    headers = {}
    if error.code == 429:
        retry_after = error.get_response().headers.get("Retry-After")
        if retry_after:
            headers["Retry-After"] = retry_after
    message = None if error.code in CONTRACT_ERRORS else error.description
    return error_response(error.code, message=message, headers=headers)


def server_error(error):
    """An unexpected failure: a JSON 500 that reveals nothing internal."""
    return error_response(
        500, message="Something went wrong on our side; it has been logged.", code="server_error"
    )


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
