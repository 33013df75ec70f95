"""Keystone's errors: an `ApiError` whose body the API renders in Keystone's envelope
`{"error": {"code", "title", "message"}}` (every error under `/v3` is rendered so)."""

from __future__ import annotations

from ostium.model.errors import ApiError

UNAUTHORIZED = "The request you have made requires authentication."
DENIED = "You are not authorized to perform the requested action."


class Unauthorized(ApiError):
    """401: a credential or token that does not authenticate, whatever the reason (the
    message never says which part was wrong)."""

    status = 401

    def __init__(self, message: str = UNAUTHORIZED) -> None:
        super().__init__(message)


class NotFound(ApiError):
    status = 404

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"Could not find {kind}: {ident[:64]}.")


class Forbidden(ApiError):
    status = 403

    def __init__(
        self, message: str = "You are not authorized to perform the requested action."
    ) -> None:
        super().__init__(message)


class Conflict(ApiError):
    status = 409


class BadRequest(ApiError):
    status = 400
