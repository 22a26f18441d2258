"""The JSON API, wire-compatible with the WorkOS Audit Logs API."""

from app.api import events, exports, openapi, portal, reads, retention, schemas  # noqa: F401
from app.api.blueprint import bp

__all__ = ["bp"]
