"""The browser sign-in cookie. Streamlit cannot set cookies, so the page hands the session over
through a short-lived, single-use ticket: after a form sign-in the page issues a ticket and sends
the browser to `/auth/session?ticket=…`; that route sets the HttpOnly cookie and redirects to `/`.
Sign-out revokes the session server-side and `/auth/sign-out?ticket=…` clears the cookie.

A ticket is bound to the browser that asked for it (the token inside Streamlit's XSRF cookie),
so a ticket lured into another browser does not sign that browser in (login CSRF)."""

from __future__ import annotations

import binascii
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from core.runtime import get_runtime

log = logging.getLogger(__name__)

COOKIE_NAME = "studio_session"
COOKIE_MAX_AGE = 30 * 86400
TICKET_TTL_SECONDS = 60.0
XSRF_COOKIE_NAME = "_streamlit_xsrf"
SIGN_IN_PATH = "/auth/session"
SIGN_OUT_PATH = "/auth/sign-out"
EXPORT_PATH = "/auth/export"

TicketKind = Literal["sign_in", "sign_out"]


def browser_binding(xsrf_cookie: str | None) -> str | None:
    """A stable fingerprint of the browser: the hash of the token inside Streamlit's XSRF
    cookie (`2|mask|masked_token|timestamp`; the mask changes on every response, the token
    does not). None when the cookie is missing or malformed."""
    if not xsrf_cookie:
        return None
    value = xsrf_cookie.strip("\"'")
    try:
        if value.startswith("2|"):
            _, mask_hex, masked_hex, _timestamp = value.split("|")
            mask = binascii.a2b_hex(mask_hex)
            masked = binascii.a2b_hex(masked_hex)
            if len(mask) != 4 or not masked:
                return None
            token = bytes(b ^ mask[i % 4] for i, b in enumerate(masked))
        else:
            token = binascii.a2b_hex(value)
    except (binascii.Error, ValueError):
        return None
    return hashlib.sha256(token).hexdigest() if token else None


@dataclass(frozen=True)
class _Ticket:
    kind: TicketKind
    session_token: str
    binding: str
    expires_at: float


class TicketBook:
    """In-memory single-use tickets (one app process; a load balancer keeps a browser on
    its process anyway, since Streamlit sessions are sticky)."""

    def __init__(self, ttl: float = TICKET_TTL_SECONDS) -> None:
        self.ttl = ttl
        self._tickets: dict[str, _Ticket] = {}
        self._lock = threading.Lock()

    def issue(self, kind: TicketKind, session_token: str, binding: str) -> str:
        """A new ticket for `session_token`, redeemable once within `ttl` seconds by the
        browser with the same `binding`."""
        if not session_token or not binding:
            raise ValueError("a ticket needs a session token and a browser binding")
        ticket = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._tickets = {k: t for k, t in self._tickets.items() if t.expires_at > now}
            self._tickets[ticket] = _Ticket(kind, session_token, binding, now + self.ttl)
        return ticket

    def redeem(self, ticket: str | None, kind: TicketKind, binding: str | None) -> str | None:
        """The session token of a live ticket of this kind issued to this browser; the ticket
        is spent either way once presented."""
        if not ticket:
            return None
        with self._lock:
            entry = self._tickets.pop(ticket, None)
        if entry is None or entry.kind != kind or entry.expires_at <= time.monotonic():
            return None
        if binding is None or not hmac.compare_digest(entry.binding, binding):
            return None
        return entry.session_token

    def __len__(self) -> int:
        with self._lock:
            return len(self._tickets)


tickets = TicketBook()
# Set once auth_routes() is mounted (app.py). `streamlit run streamlit_app.py` alone has no such
# routes: sign-in then lasts for the tab instead of sending the browser to a missing page.
_routes_mounted = False


# Where a sign-in may send the browser afterwards: one of the app's own page paths (one
# segment, letters/digits/_/-) with an optional plain query. Never another host or a path
# like //host or /\host, so the hand-off cannot be turned into an open redirect.
_RETURN_PATH = re.compile(r"/[A-Za-z0-9_-]{0,64}(\?[A-Za-z0-9._~%=&+-]{0,512})?")


def safe_return_path(value: str | None) -> str:
    """`value` when it is one of the app's own page addresses, else "/"."""
    return value if value and _RETURN_PATH.fullmatch(value) else "/"


def sign_in_url(ticket: str, return_to: str = "/") -> str:
    query = {"ticket": ticket}
    if safe_return_path(return_to) != "/":
        query["next"] = return_to
    return f"{SIGN_IN_PATH}?{urlencode(query)}"


def sign_out_url(ticket: str | None) -> str:
    return f"{SIGN_OUT_PATH}?{urlencode({'ticket': ticket})}" if ticket else SIGN_OUT_PATH


def _redirect_home(path: str = "/") -> RedirectResponse:
    response = RedirectResponse(safe_return_path(path), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    return response


def _clear_cookie(response: RedirectResponse, request: Request) -> None:
    response.delete_cookie(
        COOKIE_NAME,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )


async def begin_session(request: Request) -> RedirectResponse:
    """Redeem a sign-in ticket: set the session cookie and go back to the page the person
    signed in on (`next`, one of the app's own paths) or home. A bad, spent, expired or
    foreign ticket just goes there too (signed out, or as whoever the cookie already says)."""
    binding = browser_binding(request.cookies.get(XSRF_COOKIE_NAME))
    token = tickets.redeem(request.query_params.get("ticket"), "sign_in", binding)
    response = _redirect_home(request.query_params.get("next", "/"))
    # Backend calls block (SQLite busy timeout, a Supabase round trip): off the event loop
    # that serves every websocket.
    accounts = get_runtime().services.accounts
    if token is None or await run_in_threadpool(accounts.user_for_session, token) is None:
        log.info("sign-in hand-off refused (unknown, spent, expired or foreign ticket)")
        return response
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=COOKIE_MAX_AGE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="lax",
    )
    return response


async def end_session(request: Request) -> RedirectResponse:
    """Revoke the session named by a sign-out ticket and clear the cookie. Without a valid
    ticket the cookie is cleared only if its session is already dead (so a link on another
    site cannot sign a person out)."""
    binding = browser_binding(request.cookies.get(XSRF_COOKIE_NAME))
    token = tickets.redeem(request.query_params.get("ticket"), "sign_out", binding)
    accounts = get_runtime().services.accounts
    response = _redirect_home()
    if token is not None:
        await run_in_threadpool(accounts.sign_out, token)
        _clear_cookie(response, request)
        return response
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie and await run_in_threadpool(accounts.user_for_session, cookie) is None:
        _clear_cookie(response, request)
    return response


async def export_data(request: Request) -> Response:
    """The signed-in user's data as a zip download, streamed as it is produced (the session
    cookie is the credential; the export holds that user's jobs and images only)."""
    accounts = get_runtime().services.accounts
    user = await run_in_threadpool(accounts.user_for_session, request.cookies.get(COOKIE_NAME))
    if user is None:
        return PlainTextResponse(
            "Sign in to export your data.", status_code=401, headers={"Cache-Control": "no-store"}
        )
    log.info("data export started for user %s", user.id)
    name = f"image-studio-export-{time.strftime('%Y%m%d', time.gmtime())}.zip"
    return StreamingResponse(
        accounts.export_zip(user),  # a sync iterator: Starlette reads it in a worker thread
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


def auth_routes() -> list[BaseRoute]:
    """The cookie hand-off routes, for st.App(routes=…)."""
    global _routes_mounted
    _routes_mounted = True
    return [
        Route(SIGN_IN_PATH, begin_session, methods=["GET"]),
        Route(SIGN_OUT_PATH, end_session, methods=["GET"]),
        Route(EXPORT_PATH, export_data, methods=["GET"]),
    ]


def export_url() -> str | None:
    """Where the Account page's download points; None when the routes are not mounted."""
    return EXPORT_PATH if _routes_mounted else None


def issue_ticket(kind: TicketKind, session_token: str, xsrf_cookie: str | None) -> str | None:
    """A ticket for the browser whose XSRF cookie is `xsrf_cookie`; None when the browser
    cannot be identified or the routes are not mounted (then the sign-in lasts for the tab
    only)."""
    binding = browser_binding(xsrf_cookie)
    if not _routes_mounted or binding is None or not session_token:
        return None
    return tickets.issue(kind, session_token, binding)
