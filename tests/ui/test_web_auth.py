"""The sign-in cookie hand-off: single-use, short-lived tickets bound to the browser, and the
routes that set and clear the HttpOnly cookie."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from streamlit.web.server.starlette.starlette_app_utils import generate_xsrf_token_string

from core.web import auth as web_auth
from core.web.auth import COOKIE_NAME, XSRF_COOKIE_NAME, TicketBook, browser_binding
from tests.ui.conftest import Studio

TOKEN = b"0123456789abcdef"
OTHER = b"fedcba9876543210"


def xsrf(token: bytes = TOKEN) -> str:
    """A Streamlit XSRF cookie value (a fresh random mask every call, like the server)."""
    return generate_xsrf_token_string(token)


def test_browser_binding_ignores_the_changing_mask_but_not_the_token() -> None:
    assert xsrf() != xsrf()
    assert browser_binding(xsrf()) == browser_binding(xsrf()) is not None
    assert browser_binding(xsrf()) != browser_binding(xsrf(OTHER))
    assert browser_binding(None) is None
    assert browser_binding("2|zz|zz|1") is None
    assert browser_binding("") is None


def test_a_ticket_is_redeemed_once_by_the_same_browser_for_its_own_kind() -> None:
    book = TicketBook()
    binding = browser_binding(xsrf())
    assert binding
    ticket = book.issue("sign_in", "session-1", binding)
    assert book.redeem(ticket, "sign_in", browser_binding(xsrf())) == "session-1"
    assert book.redeem(ticket, "sign_in", binding) is None  # spent
    other = book.issue("sign_in", "session-2", binding)
    assert book.redeem(other, "sign_out", binding) is None  # wrong kind spends it too
    assert book.redeem(other, "sign_in", binding) is None
    foreign = book.issue("sign_in", "session-3", binding)
    assert book.redeem(foreign, "sign_in", browser_binding(xsrf(OTHER))) is None
    assert book.redeem(foreign, "sign_in", binding) is None
    assert book.redeem(None, "sign_in", binding) is None
    assert book.redeem("made-up", "sign_in", binding) is None


def test_a_ticket_expires() -> None:
    book = TicketBook(ttl=0.05)
    binding = browser_binding(xsrf())
    assert binding
    ticket = book.issue("sign_in", "session-1", binding)
    time.sleep(0.1)
    assert book.redeem(ticket, "sign_in", binding) is None
    book.issue("sign_in", "session-2", binding)  # issuing sweeps expired tickets
    assert len(book) == 1


@pytest.fixture(autouse=True)
def routes_mounted() -> None:
    web_auth.auth_routes()  # as app.py does at import


def test_no_ticket_without_a_browser_to_bind_it_to() -> None:
    assert web_auth.issue_ticket("sign_in", "session-1", None) is None
    assert web_auth.issue_ticket("sign_in", "session-1", xsrf()) is not None


def test_no_ticket_when_the_app_runs_without_the_cookie_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(web_auth, "_routes_mounted", False)  # `streamlit run streamlit_app.py`
    assert web_auth.issue_ticket("sign_in", "session-1", xsrf()) is None
    with pytest.raises(ValueError):
        TicketBook().issue("sign_in", "session-1", "")


@pytest.fixture
def client(studio: Studio) -> TestClient:
    app = Starlette(routes=web_auth.auth_routes())
    return TestClient(app, base_url="http://studio.test", follow_redirects=False)


def test_sign_in_ticket_sets_an_httponly_lax_cookie_and_goes_home(
    studio: Studio, client: TestClient
) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    cookie = xsrf()
    ticket = web_auth.issue_ticket("sign_in", signed.session_token, cookie)
    assert ticket and signed.session_token not in ticket
    client.cookies.set(XSRF_COOKIE_NAME, xsrf())  # same browser, new mask
    response = client.get(web_auth.sign_in_url(ticket))
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE_NAME}={signed.session_token};")
    assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie and "Path=/" in set_cookie
    assert "Secure" not in set_cookie
    assert response.headers["cache-control"] == "no-store"
    again = client.get(web_auth.sign_in_url(ticket))
    assert again.status_code == 303 and "set-cookie" not in again.headers


def test_the_hand_off_returns_to_the_page_signed_in_on(studio: Studio, client: TestClient) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    job = "796be17b-fc46-40d7-8502-6b9b41e945cd"
    ticket = web_auth.issue_ticket("sign_in", signed.session_token, xsrf())
    assert ticket
    client.cookies.set(XSRF_COOKIE_NAME, xsrf())
    response = client.get(web_auth.sign_in_url(ticket, f"/history?job={job}"))
    assert response.status_code == 303
    assert response.headers["location"] == f"/history?job={job}"
    assert response.headers["set-cookie"].startswith(f"{COOKIE_NAME}={signed.session_token};")


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
        "evil.example",
        "/history/../../etc",
        "/history?next=https://evil.example",
        "/%2F%2Fevil.example",
        "/history\r\nSet-Cookie: x=1",
        "/" + "a" * 65,
        "/history?" + "a" * 513,
        "",
    ],
)
def test_the_hand_off_never_leaves_the_app(client: TestClient, target: str) -> None:
    """`next` is attacker-controlled (a link can carry anything): only the app's own page
    paths are followed; anything else goes home, and the ticket still counts as spent."""
    assert web_auth.safe_return_path(target) == "/"
    response = client.get(web_auth.SIGN_IN_PATH, params={"ticket": "made-up", "next": target})
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_the_cookie_is_secure_over_https(studio: Studio) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    cookie = xsrf()
    ticket = web_auth.issue_ticket("sign_in", signed.session_token, cookie)
    assert ticket
    client = TestClient(
        Starlette(routes=web_auth.auth_routes()),
        base_url="https://studio.test",
        follow_redirects=False,
    )
    client.cookies.set(XSRF_COOKIE_NAME, cookie)
    assert "Secure" in client.get(web_auth.sign_in_url(ticket)).headers["set-cookie"]


def test_a_ticket_lured_into_another_browser_signs_nobody_in(
    studio: Studio, client: TestClient
) -> None:
    signed = studio.services.accounts.sign_up("mallory@example.com", "correct horse battery")
    ticket = web_auth.issue_ticket("sign_in", signed.session_token, xsrf(OTHER))
    assert ticket
    client.cookies.set(XSRF_COOKIE_NAME, xsrf())
    response = client.get(web_auth.sign_in_url(ticket))
    assert response.status_code == 303 and "set-cookie" not in response.headers


def test_a_ticket_for_a_session_revoked_meanwhile_sets_no_cookie(
    studio: Studio, client: TestClient
) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    cookie = xsrf()
    ticket = web_auth.issue_ticket("sign_in", signed.session_token, cookie)
    assert ticket
    studio.services.accounts.sign_out(signed.session_token)
    client.cookies.set(XSRF_COOKIE_NAME, cookie)
    assert "set-cookie" not in client.get(web_auth.sign_in_url(ticket)).headers


def test_sign_out_ticket_revokes_the_session_and_clears_the_cookie(
    studio: Studio, client: TestClient
) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    cookie = xsrf()
    ticket = web_auth.issue_ticket("sign_out", signed.session_token, cookie)
    client.cookies.set(XSRF_COOKIE_NAME, cookie)
    client.cookies.set(COOKIE_NAME, signed.session_token)
    response = client.get(web_auth.sign_out_url(ticket))
    assert response.status_code == 303
    assert f'{COOKIE_NAME}="";' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert studio.services.accounts.user_for_session(signed.session_token) is None


def test_sign_out_without_a_ticket_keeps_a_live_cookie_but_clears_a_dead_one(
    studio: Studio, client: TestClient
) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    client.cookies.set(COOKIE_NAME, signed.session_token)
    response = client.get(web_auth.SIGN_OUT_PATH)  # e.g. a link on another site
    assert response.status_code == 303 and "set-cookie" not in response.headers
    assert studio.services.accounts.user_for_session(signed.session_token) is not None
    studio.services.accounts.sign_out(signed.session_token)
    response = client.get(web_auth.SIGN_OUT_PATH)
    assert "Max-Age=0" in response.headers["set-cookie"]


class _SlowService:
    """The studio's accounts service whose session calls take as long as a busy SQLite or a slow
    Supabase: each waits (up to `patience` seconds) for another request to be served."""

    def __init__(self, inner: Any, patience: float = 3.0) -> None:
        self.inner = inner
        self.patience = patience
        self.other_request_served = threading.Event()
        self.saw_other_request: list[bool] = []

    def _wait(self) -> None:
        self.saw_other_request.append(self.other_request_served.wait(self.patience))

    def user_for_session(self, token: str | None) -> Any:
        self._wait()
        return self.inner.user_for_session(token)

    def sign_out(self, token: str) -> None:
        self._wait()
        self.inner.sign_out(token)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _while_slow(studio: Studio, path: str, cookies: dict[str, str]) -> httpx.Response:
    """GET `path` on the auth routes and, meanwhile, another route on the same event loop."""
    slow: _SlowService = studio.runtime.services.accounts  # type: ignore[assignment]

    async def ping(_request: Request) -> PlainTextResponse:
        slow.other_request_served.set()
        return PlainTextResponse("pong")

    app = Starlette(routes=[*web_auth.auth_routes(), Route("/ping", ping)])

    async def both() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://studio.test", cookies=cookies
        ) as client:
            auth = asyncio.ensure_future(client.get(path))
            await asyncio.sleep(0.05)  # the auth request is now inside the backend call
            pong = await client.get("/ping")
            assert pong.text == "pong"
            return await auth

    return asyncio.run(both())


@pytest.mark.parametrize("route", ["sign in", "sign out", "sign out without a ticket"])
def test_a_slow_backend_during_the_cookie_hand_off_does_not_stall_other_requests(
    studio: Studio, monkeypatch: pytest.MonkeyPatch, route: str
) -> None:
    signed = studio.services.accounts.sign_up("ada@example.com", "correct horse battery")
    cookie = xsrf()
    slow = _SlowService(studio.runtime.services.accounts)
    monkeypatch.setattr(studio.runtime, "services", replace(studio.runtime.services, accounts=slow))
    cookies = {XSRF_COOKIE_NAME: cookie, COOKIE_NAME: signed.session_token}
    if route == "sign in":
        ticket = web_auth.issue_ticket("sign_in", signed.session_token, cookie)
        path = web_auth.sign_in_url(ticket or "")
    elif route == "sign out":
        path = web_auth.sign_out_url(
            web_auth.issue_ticket("sign_out", signed.session_token, cookie)
        )
    else:
        path = web_auth.SIGN_OUT_PATH
    started = time.monotonic()
    response = _while_slow(studio, path, cookies)
    assert response.status_code == 303
    assert slow.saw_other_request == [True]  # served while the backend call was waiting
    assert time.monotonic() - started < slow.patience
    if route == "sign in":
        assert response.headers["set-cookie"].startswith(f"{COOKIE_NAME}=")
    elif route == "sign out":
        assert studio.services.accounts.user_for_session(signed.session_token) is None
