"""The API's own error: raised anywhere in an API view, answered as the contract's JSON."""


class ApiError(Exception):
    """An API failure with its status, message, code and (optionally) one item per problem."""

    def __init__(self, status, message, code=None, errors=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors
