"""JSON error bodies as the API contract describes them, for the API's own handlers and
for the app-wide ones (a 404 or 405 on an API path, a 500)."""

from flask import jsonify

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


API_PATH_PREFIXES = (
    "/audit_logs/",
    "/organizations/",
    "/openapi.json",
    "/portal/generate_link",
    "/portal/revoke_link",
)


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
