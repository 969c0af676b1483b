"""HTTP plumbing of the /api app: the one error shape, the mapping of every failure to it,
bounded JSON bodies read before FastAPI parses them, and bearer authentication."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse

from core.domain.errors import RateLimited, StudioError
from core.domain.models import User
from core.runtime import get_runtime

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 8_192  # far above a personal token or a Supabase JWT; refused unlooked-up
NO_STORE = {"Cache-Control": "no-store"}
INTERNAL_ERROR = "Something went wrong on our side."


class ApiError(Exception):
    """An HTTP error decided by the API layer itself (not by the service)."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    *,
    reason: str | None = None,
    params: Mapping[str, str | int | float] | None = None,
) -> JSONResponse:
    """The one error shape, {"error": {"code", "message", "reason", "params"}}, never cached.
    The message is always English; `reason` names it (the UI's catalogue key is
    `error.<reason>`) and `params` are the values in it, for clients that word it themselves."""
    return JSONResponse(
        {
            "error": {
                "code": code,
                "message": message,
                "reason": reason or code,
                "params": dict(params or {}),
            }
        },
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def response_for(exc: Exception) -> JSONResponse:
    """The JSON error for an ApiError, a StudioError, or a request FastAPI found invalid."""
    if isinstance(exc, RequestValidationError):
        exc = invalid_request(exc.errors())
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.headers)
    if isinstance(exc, StudioError):
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, int(exc.retry_after)))
        return error_response(
            exc.http_status, exc.code, exc.message, headers, reason=exc.reason, params=exc.params
        )
    raise TypeError(f"not an API error: {type(exc).__name__}")


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="api"'}
    )


# ---- validation errors ----------------------------------------------------------------------

_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "dict_type": "an object",
    "list_type": "a list",
    "bool_type": "true or false",
    "float_type": "a number",
}


def invalid_request(errors: Sequence[Any]) -> ApiError:
    """Pydantic's findings as one plain-words error. A body that is not an object, a value of
    the wrong JSON type or a missing query parameter is a malformed request (400); an unknown
    or missing field and a value out of bounds is a valid request we refuse (422). The first
    in the order a person would fix them: the body's shape, unknown fields, missing ones,
    types, values."""
    errors = list(errors)
    unknown = [str(e["loc"][-1]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown and not any(tuple(e["loc"]) == ("body",) for e in errors):
        return ApiError(422, "validation_error", f"Unknown field(s): {', '.join(unknown)}.")
    ranked = [
        ((tuple(e["loc"]) != ("body",), e["type"] != "missing", found.status != 400), found)
        for e in errors
        for found in [_describe(e)]
    ]
    return min(ranked, key=lambda item: item[0])[1]


def _describe(error: dict[str, Any]) -> ApiError:
    loc = tuple(error["loc"])
    kind: str = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if loc == ("body",):
        return bad_request("The body must be a JSON object.")
    place = {"body": "field", "query": "parameter", "header": "header", "path": "path part"}
    subject = f"The {place.get(loc[0], 'value')} {loc[1]!r}" if len(loc) > 1 else "The value"
    if kind == "missing":
        if loc[0] == "body":
            return ApiError(422, "validation_error", f"{subject} is required.")
        return bad_request(f"{subject} is required.")
    if kind in ("literal_error", "enum"):
        if not isinstance(value, str):
            return bad_request(f"{subject} must be a string.")
        name = loc[1] if len(loc) > 1 else "value"
        return ApiError(
            422,
            "validation_error",
            f"Unknown {name} {value!r}. Choose from: {ctx.get('expected', '')}.",
        )
    if kind in _TYPE_NAMES or kind.endswith("_type"):
        return bad_request(f"{subject} must be {_TYPE_NAMES.get(kind, 'of another type')}.")
    if kind == "out_of_range":
        message = f"{subject} must be between {ctx['low']} and {ctx['high']}."
    elif kind == "string_too_short" and ctx.get("min_length") == 1:
        message = f"{subject} must not be empty."
    elif kind == "string_too_short":
        message = f"{subject} must be at least {ctx.get('min_length')} characters long."
    elif kind == "string_too_long":
        message = f"{subject} must be at most {ctx.get('max_length')} characters long."
    else:
        message = f"{subject} is not valid: {error.get('msg', 'invalid')}."
    return ApiError(422, "validation_error", message)


# ---- bodies ---------------------------------------------------------------------------------


async def read_json(request: Request, *, limit: int = MAX_BODY_BYTES) -> Any:
    """Read and parse the body before FastAPI does, and leave both on the request for it.
    Refuses a non-JSON content type (415) and a body over MAX_BODY_BYTES (413) from its
    Content-Length or, when streamed, as soon as it goes over, without reading the rest; JSON
    that is invalid, has NaN/Infinity, or text no store can hold (a lone surrogate, NUL) is a
    400, as is a body that is not an object."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        )
    size = f"{limit // 1024} KB" if limit < 1024 * 1024 else f"{limit // (1024 * 1024)} MB"
    too_large = ApiError(413, "payload_too_large", f"The body is over {size}.")
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not ascii_digits(declared):
            raise bad_request("Content-Length is not a number.")
        if len(declared.lstrip("0")) > len(str(limit)) or int(declared) > limit:
            raise too_large
    body = await _read_body(request, too_large, limit)
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise bad_request("The body is not valid JSON.") from None
    if any(_UNSTORABLE_TEXT.search(text) for text in _strings(parsed)):
        raise bad_request(
            "Text in the body must be valid Unicode without NUL: no lone surrogate escape "
            "(\\ud800-\\udfff) and no \\u0000."
        )
    # Starlette's own caches, which FastAPI's body handling reads: no second read or parse.
    request._body = body
    request._json = parsed
    return parsed


async def _read_body(request: Request, too_large: ApiError, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, at most MAX_BODY_BYTES, within the settings' body_read_timeout; a client that
    stalls gets 408 and the connection is closed."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(get_runtime().settings.body_read_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408,
            "request_timeout",
            "The body did not arrive in time; send it again.",
            headers={"Connection": "close"},
        ) from None
    except ClientDisconnect:
        raise bad_request("The connection closed before the body was complete.") from None
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# A lone surrogate cannot be encoded as UTF-8 (json.loads accepts "\ud800"); Postgres text
# cannot hold NUL.
_UNSTORABLE_TEXT = re.compile("[\x00\ud800-\udfff]")


def _strings(value: Any) -> Iterator[str]:
    """Every string in parsed JSON, keys included (iterative: no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def ascii_digits(text: str) -> bool:
    """Whether `text` is one or more ASCII digits 0-9. str.isdigit() alone also accepts other
    scripts' digits and superscripts ('²' breaks int(), '٣' is 3)."""
    return text.isascii() and text.isdigit()


# ---- authentication and URLs ----------------------------------------------------------------


def bearer_token(request: Request) -> str:
    """The token of `Authorization: Bearer <token>`, or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized("Send an API token: Authorization: Bearer <token>.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("Use the Bearer scheme: Authorization: Bearer <token>.")
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("The API token is invalid, expired or revoked.")
    return token


def authenticate(request: Request, accounts: Any) -> User:
    """The user behind the bearer token (a personal API token; in Supabase mode also a
    Supabase access token, verified by the backend's resolve_api_token). Blocking: call it
    from a worker thread."""
    user = accounts.user_for_api_token(bearer_token(request))
    if user is None or user.disabled:
        raise unauthorized("The API token is invalid, expired or revoked.")
    return user


def absolute_url(url: str) -> str:
    """A server-relative URL (the local backend's signed URLs) on the configured PUBLIC_URL,
    or left relative without one. Never built from the request's Host header: a client
    chooses that, and a signed URL on a host it names would be sent there."""
    public_url = get_runtime().settings.public_url
    return public_url + url if public_url and url.startswith("/") else url
