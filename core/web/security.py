"""Security headers on every HTTP response and on the websocket handshake, and `Secure` on
every cookie set or cleared over HTTPS, as a plain ASGI middleware (Starlette's
BaseHTTPMiddleware would skip websockets)."""

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
_REJECTED_BODY = b"WebSocket connection refused."


def _with_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() not in _NAMES]
    return kept + _ENCODED


def _secure_cookies(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Every Set-Cookie (Streamlit's XSRF cookie too) with the Secure attribute."""
    return [(k, _with_secure(v)) if k.lower() == b"set-cookie" else (k, v) for k, v in headers]


def _with_secure(cookie: bytes) -> bytes:
    attributes = {part.strip().lower() for part in cookie.split(b";")[1:]}
    return cookie if b"secure" in attributes else cookie + b"; Secure"


class SecurityHeadersMiddleware:
    """Adds SECURITY_HEADERS to `http.response.start`, `websocket.accept` and websocket denial
    responses. A websocket closed before it was accepted (origin check failed, no route...)
    would get the server's bare 403; where the server supports the ASGI
    `websocket.http.response` extension, that 403 is sent by us instead, with the headers.

    On an HTTPS request every Set-Cookie gets `Secure`. The scheme is the server's: uvicorn
    takes X-Forwarded-Proto only from the peers in FORWARDED_ALLOW_IPS (its default: loopback)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.app(scope, receive, self._http_send(send, scope.get("scheme") == "https"))
        elif scope["type"] == "websocket":
            await self.app(scope, receive, self._websocket_send(scope, send))
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _http_send(send: Send, https: bool) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = _with_headers(list(message.get("headers") or []))
                message = {**message, "headers": _secure_cookies(headers) if https else headers}
            await send(message)

        return send_with_headers

    @staticmethod
    def _websocket_send(scope: Scope, send: Send) -> Send:
        can_deny = "websocket.http.response" in (scope.get("extensions") or {})
        handshake_done = False

        async def send_with_headers(message: Message) -> None:
            nonlocal handshake_done
            kind = message["type"]
            if kind in ("websocket.accept", "websocket.http.response.start"):
                handshake_done = True
                message = {**message, "headers": _with_headers(list(message.get("headers") or []))}
            elif kind == "websocket.close" and not handshake_done and can_deny:
                handshake_done = True
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": 403,
                        "headers": _with_headers(
                            [
                                (b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(_REJECTED_BODY)).encode()),
                            ]
                        ),
                    }
                )
                message = {"type": "websocket.http.response.body", "body": _REJECTED_BODY}
            await send(message)

        return send_with_headers
