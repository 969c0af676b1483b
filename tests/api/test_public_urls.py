"""URLs and cookies a client cannot steer: result_url never carries the request's Host (it is
on PUBLIC_URL, or relative), and over HTTPS every cookie set or cleared is Secure. Whether a
request is HTTPS is the server's call (uvicorn trusts X-Forwarded-Proto from FORWARDED_ALLOW_IPS
only; that part runs against the real server in test_live_server.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from core.domain.models import JobStatus
from core.domain.settings import Settings, parse_public_url
from core.runtime import Runtime
from core.web import auth as web_auth
from core.web.security import SecurityHeadersMiddleware
from tests.api.conftest import ApiUser, wait_for

FORGED = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}


def done_result_url(client: TestClient, runtime: Runtime, user: ApiUser, run_worker) -> str:
    run_worker()
    created = client.post("/api/jobs", json={"provider": "demo", "prompt": "a kite"},
                          headers={**user.headers, **FORGED})  # fmt: skip
    wait_for(runtime, created.json()["id"], {JobStatus.DONE})
    one = client.get("/api/jobs", params={"id": created.json()["id"]},
                     headers={**user.headers, **FORGED})  # fmt: skip
    listed = client.get("/api/jobs", headers={**user.headers, **FORGED}).json()["items"]
    assert listed[0]["result_url"].split("?")[0] == one.json()["result_url"].split("?")[0]
    return one.json()["result_url"]


def test_a_forged_host_does_not_make_the_result_url_without_public_url(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker
) -> None:
    url = done_result_url(client, runtime, alice, run_worker)
    assert "evil.example" not in url
    assert url.startswith("/api/files/")
    assert client.get(url).status_code == 200  # relative to the server that answered


def test_result_urls_are_on_public_url_whatever_the_host(
    client: TestClient, runtime: Runtime, alice: ApiUser, run_worker
) -> None:
    runtime.settings = replace(runtime.settings, public_url="https://studio.example.com/app")
    url = done_result_url(client, runtime, alice, run_worker)
    assert url.startswith("https://studio.example.com/app/api/files/")
    assert "evil.example" not in url


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("https://studio.example.com", "https://studio.example.com"),
        ("https://studio.example.com/", "https://studio.example.com"),
        (" http://localhost:8501/studio/ ", "http://localhost:8501/studio"),
    ],
)
def test_public_url_is_read_from_the_environment(raw: str, parsed: str) -> None:
    assert Settings.load(env={"PUBLIC_URL": raw}, secrets_path=None).public_url == parsed


@pytest.mark.parametrize(
    "raw",
    ["studio.example.com", "ftp://studio.example.com", "https://", "https://h/?a=1",
     "https://h/#x", "https://user:pw@h"],
)  # fmt: skip
def test_a_malformed_public_url_is_refused_at_start(raw: str) -> None:
    with pytest.raises(ValueError, match="PUBLIC_URL"):
        parse_public_url(raw)


# ---- cookies ----------------------------------------------------------------------------------


async def xsrf_like(request: Request) -> PlainTextResponse:
    """A cookie set without Secure, like Streamlit's _streamlit_xsrf."""
    response = PlainTextResponse("ok")
    response.set_cookie("_streamlit_xsrf", "2|ab|cd|1", samesite="lax")
    response.set_cookie("already", "1", secure=True)
    return response


@pytest.fixture
def cookie_app(runtime: Runtime) -> Starlette:
    return Starlette(
        routes=[*web_auth.auth_routes(), Route("/xsrf", xsrf_like)],
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )


def set_cookies(response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_every_cookie_set_over_https_is_secure(cookie_app: Starlette) -> None:
    with TestClient(cookie_app, base_url="https://studio.test") as client:
        cookies = set_cookies(client.get("/xsrf"))
    assert len(cookies) == 2
    for cookie in cookies:
        attributes = [part.strip().lower() for part in cookie.split(";")]
        assert attributes.count("secure") == 1, cookie


def test_cookies_over_plain_http_are_left_alone(cookie_app: Starlette) -> None:
    with TestClient(cookie_app, base_url="http://studio.test") as client:
        xsrf, already = set_cookies(client.get("/xsrf"))
    assert "secure" not in xsrf.lower()
    assert "secure" in already.lower()


@pytest.mark.parametrize(("scheme", "secure"), [("https", True), ("http", False)])
def test_sign_out_clears_the_cookie_with_secure_on_https(
    cookie_app: Starlette, scheme: str, secure: bool
) -> None:
    with TestClient(cookie_app, base_url=f"{scheme}://studio.test") as client:
        client.cookies.set(web_auth.COOKIE_NAME, "a-dead-session")
        response = client.get(web_auth.SIGN_OUT_PATH, follow_redirects=False)
    (cleared,) = set_cookies(response)
    assert cleared.startswith(f'{web_auth.COOKIE_NAME}="";') and "Max-Age=0" in cleared
    assert ("Secure" in cleared) is secure
