"""API errors: a status and one sentence that names the fix, sent as JSON
(`{"error": ...}`) by the app's exception handlers; never a traceback."""

from __future__ import annotations


class ApiError(Exception):
    """A request the API refuses or cannot answer now. `message` says what to change
    (a parameter, a smaller box) or what the operator must do."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}

    def __reduce__(self):
        # Raised in the live reader's process and re-raised in the API's (soar.web.reader).
        return (ApiError, (self.status, self.message, self.headers))


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)
