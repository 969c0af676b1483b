"""HTTP plumbing shared by the /api handlers: the error envelope, bounded JSON bodies, bearer
authentication and the endpoint wrapper that turns every failure into a safe JSON error."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from core.domain.errors import RateLimited, StudioError
from core.domain.models import User
from core.runtime import get_runtime

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
MAX_TOKEN_CHARS = 8_192  # far above a personal token or a Supabase JWT; refused unlooked-up
NO_STORE = {"Cache-Control": "no-store"}

Handler = Callable[[Request], Awaitable[Response]]


class ApiError(Exception):
    """An HTTP error decided by the API layer itself (not by the service)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> JSONResponse:
    """A JSON response that proxies and browsers never cache."""
    return JSONResponse(payload, status_code=status, headers={**NO_STORE, **(headers or {})})


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The one error shape: {"error": {"code", "message"}}."""
    return json_response({"error": {"code": code, "message": message}}, status, headers)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "bad_request", message)


def unauthorized(message: str) -> ApiError:
    return ApiError(
        401,
        "unauthorized",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def method_not_allowed(allowed: tuple[str, ...]) -> ApiError:
    return ApiError(
        405,
        "method_not_allowed",
        f"Use {', '.join(allowed)} on this path.",
        headers={"Allow": ", ".join(allowed)},
    )


def endpoint(allowed: tuple[str, ...]) -> Callable[[Handler], Handler]:
    """Wrap a handler: refuse other methods (405), map ApiError and StudioError to their JSON
    errors, and turn anything unexpected into a generic 500 logged server-side."""
    methods = {m.upper() for m in allowed}
    if "GET" in methods:
        methods.add("HEAD")

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapper(request: Request) -> Response:
            try:
                if request.method not in methods:
                    raise method_not_allowed(allowed)
                return await handler(request)
            except ApiError as exc:
                return error_response(exc.status, exc.code, exc.message, exc.headers)
            except StudioError as exc:
                headers = {}
                if isinstance(exc, RateLimited):
                    headers["Retry-After"] = str(max(1, int(exc.retry_after)))
                return error_response(exc.http_status, exc.code, exc.message, headers)
            except Exception:
                # The query string may hold a signature: log the path only.
                log.exception("Unhandled error in %s %s", request.method, request.url.path)
                return error_response(500, "internal_error", "Something went wrong on our side.")

        return wrapper

    return decorate


async def read_json(request: Request) -> Any:
    """The request body parsed as JSON. Refuses a non-JSON content type (415) and a body over
    MAX_BODY_BYTES (413) from its Content-Length or, when streamed, as soon as it goes over,
    without reading the rest; text JSON cannot store (a lone surrogate, NUL) is a 400."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with Content-Type: application/json.",
        )
    too_large = ApiError(413, "payload_too_large", f"The body is over {MAX_BODY_BYTES // 1024} KB.")
    declared = request.headers.get("content-length")
    if declared is not None:
        declared = declared.strip()
        if not ascii_digits(declared):
            raise bad_request("Content-Length is not a number.")
        if len(declared.lstrip("0")) > len(str(MAX_BODY_BYTES)) or int(declared) > MAX_BODY_BYTES:
            raise too_large
    body = await _read_body(request, too_large)
    try:
        parsed = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise bad_request("The body is not valid JSON.") from None
    if any(_UNSTORABLE_TEXT.search(text) for text in _strings(parsed)):
        raise bad_request(
            "Text in the body must be valid Unicode without NUL: no lone surrogate escape "
            "(\\ud800-\\udfff) and no \\u0000."
        )
    return parsed


async def _read_body(request: Request, too_large: ApiError) -> bytes:
    """The body, at most MAX_BODY_BYTES, within the settings' body_read_timeout; a client that
    stalls gets 408 and the connection is closed."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(get_runtime().settings.body_read_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
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


async def authenticate(request: Request) -> User:
    """The user behind `Authorization: Bearer <token>` (a personal API token; in Supabase
    mode also a Supabase access token, verified by the backend's resolve_api_token)."""
    header = request.headers.get("authorization")
    if not header:
        raise unauthorized("Send an API token: Authorization: Bearer <token>.")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthorized("Use the Bearer scheme: Authorization: Bearer <token>.")
    if len(token) > MAX_TOKEN_CHARS:
        raise unauthorized("The API token is invalid, expired or revoked.")
    service = get_runtime().service
    user = await run_in_threadpool(service.user_for_api_token, token)
    if user is None or user.disabled:
        raise unauthorized("The API token is invalid, expired or revoked.")
    return user


def absolute_url(url: str) -> str:
    """A server-relative URL (the local backend's signed URLs) on the configured PUBLIC_URL,
    or left relative without one. Never built from the request's Host header: a client
    chooses that, and a signed URL on a host it names would be sent there."""
    public_url = get_runtime().settings.public_url
    return public_url + url if public_url and url.startswith("/") else url


def iso(moment: datetime | None) -> str | None:
    """RFC 3339 in UTC; naive datetimes are taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
