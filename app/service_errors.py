"""Errors that services raise for the views, API and CLI to report in their own way."""


class ServiceError(Exception):
    """A request that cannot be carried out; ``field`` names the input at fault, if any."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.message = message
        self.field = field


class Conflict(ServiceError):
    """The request contradicts what is already stored."""


class NotAllowed(ServiceError):
    """The request would break a rule of the organization (e.g. remove its last admin)."""
