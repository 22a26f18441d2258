"""Cookie sessions for the dashboard only: the API is stateless and never reads one."""

from flask.sessions import SecureCookieSessionInterface

from app.web.json_errors import is_api_request


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, skipped for API and health-check requests."""

    def open_session(self, app, request):
        """No session (Flask's null session) for API requests."""
        if is_api_request(request) or request.path == "/healthz":
            return None
        return super().open_session(app, request)
