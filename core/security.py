"""Security headers on every HTTP response and on the websocket handshake, as a plain ASGI
middleware (Starlette's BaseHTTPMiddleware would skip websockets)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS: dict[str, str] = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_ENCODED = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()]
_NAMES = {name for name, _ in _ENCODED}
# Messages that open a response: HTTP, websocket accept, and a websocket refused with HTTP.
_STARTS = ("http.response.start", "websocket.accept", "websocket.http.response.start")


def _with_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() not in _NAMES]
    return kept + _ENCODED


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to `http.response.start` and `websocket.accept` messages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] in _STARTS:
                message = dict(message)
                message["headers"] = _with_headers(list(message.get("headers") or []))
            await send(message)

        await self.app(scope, receive, send_with_headers)
