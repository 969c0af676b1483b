"""Errors that users and API clients see. Each carries a stable code (its kind, which the API
answers as `code`), a message in plain English words, the HTTP status the API answers with,
and a `reason`: the stable name of this particular message, with the `params` it was built from,
so the UI can say the same thing in the user's language (its catalogue key is
`error.<reason>`). The REST API keeps the English message and sends `reason` and `params` too."""

from __future__ import annotations

from collections.abc import Mapping

Param = str | int | float


class StudioError(Exception):
    """Base of every error shown to a person or an API client."""

    code = "error"
    http_status = 400

    def __init__(
        self, message: str, *, reason: str | None = None, params: Mapping[str, Param] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        # Without a reason of its own, the error's kind names the message (e.g. "not_found").
        self.reason = reason or self.code
        self.params: dict[str, Param] = dict(params or {})


class ValidationError(StudioError):
    """The request is not acceptable (empty prompt, unknown option, out-of-range value...)."""

    code = "validation_error"
    http_status = 422


class ProviderUnavailable(ValidationError):
    code = "provider_unavailable"


class NotFound(StudioError):
    """No such job, or not one the caller may see (the two are indistinguishable)."""

    code = "not_found"
    http_status = 404

    def __init__(
        self,
        message: str = "No such job.",
        *,
        reason: str | None = None,
        params: Mapping[str, Param] | None = None,
    ) -> None:
        if reason is None and message == "No such job.":
            reason = "job_not_found"
        super().__init__(message, reason=reason, params=params)


class Forbidden(StudioError):
    code = "forbidden"
    http_status = 403


class AuthRequired(StudioError):
    code = "unauthorized"
    http_status = 401


class InvalidCredentials(AuthRequired):
    code = "invalid_credentials"

    def __init__(self, message: str = "Wrong email or password.") -> None:
        super().__init__(message, reason="invalid_credentials")


class AccountExists(ValidationError):
    code = "account_exists"


class AccountDisabled(AuthRequired):
    code = "account_disabled"

    def __init__(
        self,
        message: str = "This account is disabled, so it cannot sign in. Ask an admin to enable it.",
    ) -> None:
        super().__init__(message, reason="account_disabled")


class Conflict(StudioError):
    """The action does not fit the job's state (e.g. cancel a finished job)."""

    code = "conflict"
    http_status = 409


class RateLimited(StudioError):
    code = "rate_limited"
    http_status = 429

    def __init__(
        self,
        message: str,
        retry_after: int,
        *,
        reason: str | None = None,
        params: Mapping[str, Param] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, params=params)
        self.retry_after = retry_after


class QuotaExceeded(RateLimited):
    code = "quota_exceeded"


class PayloadTooLarge(StudioError):
    code = "payload_too_large"
    http_status = 413


class StorageFull(StudioError):
    """The server could not write: its disk is full (or failing). Nothing was saved."""

    code = "storage_full"
    http_status = 503

    def __init__(
        self, message: str = "The server's storage is full, so nothing was saved. Try again later."
    ) -> None:
        super().__init__(message, reason="storage_full")


class UnsupportedMediaType(StudioError):
    """An uploaded file is not one of the accepted image types (judged by its bytes)."""

    code = "unsupported_media_type"
    http_status = 415
