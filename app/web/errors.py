"""Error pages in the site's layout, and JSON errors for the API."""

from flask import render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.web.json_errors import http_error, is_api_request, server_error

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong",
}

EXPLANATIONS = {
    400: "The request could not be understood. Reload the page and try again.",
    403: "Your role in this organization does not allow this. Ask an admin of the organization.",
    404: "There is nothing here, or it belongs to an organization you are not a member of.",
    405: "This address does not accept that kind of request.",
    413: "What you sent is larger than this server accepts.",
    429: "Too many attempts in a short time. Wait a few minutes, then try again.",
    500: "An unexpected error happened on our side. It has been logged; try again in a moment.",
}


def handle_http_error(error):
    """Render an HTTP error as JSON for the API, as a page in the layout otherwise."""
    if is_api_request(request):
        return http_error(error)
    code = error.code or 500
    response = render_template(
        "errors/error.html",
        code=code,
        title=TITLES.get(code, error.name),
        explanation=EXPLANATIONS.get(code, error.description),
    )
    headers = {}
    if code == 429:
        headers["Retry-After"] = error.get_response().headers.get("Retry-After", "60")
    return response, code, headers


def handle_csrf_error(error):
    """A form without a valid CSRF token: usually a page left open too long."""
    response = render_template(
        "errors/error.html",
        code=400,
        title="The form has expired",
        explanation="The form was missing its security token or was too old. "
        "Go back, reload the page and submit it again.",
    )
    return response, 400


def handle_server_error(error):
    """An uncaught exception (Flask has logged it): a 500 that shows no internals."""
    if is_api_request(request):
        return server_error(error)
    return handle_http_error(InternalServerError())


def register_error_handlers(app):
    """Install the handlers on the app."""
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(CSRFError, handle_csrf_error)
    app.register_error_handler(InternalServerError, handle_server_error)
