"""SecurityHeadersMiddleware in-process: every HTTP response, the websocket accept and a
websocket refused before its handshake carry the headers."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from core.web.security import SecurityHeadersMiddleware

# The values themselves, written out: a change to the middleware's constant must show up here.
EXPECTED = {
    "strict-transport-security": "max-age=63072000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "SAMEORIGIN",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def assert_secure(headers) -> None:
    lowered = {k.lower(): v for k, v in dict(headers).items()}
    for name, value in EXPECTED.items():
        assert lowered.get(name) == value, name


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


async def refuse(websocket: WebSocket) -> None:
    await websocket.close(code=1008)  # what Streamlit does on a bad Origin


async def page(request) -> PlainTextResponse:
    # A handler that sets its own weaker value must not win.
    return PlainTextResponse("hi", headers={"X-Frame-Options": "ALLOWALL"})


@pytest.fixture
def toy() -> TestClient:
    app = Starlette(
        routes=[
            Route("/page", page),
            WebSocketRoute("/ws", echo),
            WebSocketRoute("/refuse", refuse),
        ],
        middleware=[Middleware(SecurityHeadersMiddleware)],
    )
    return TestClient(app)


def test_http_responses_carry_every_header_and_override_weaker_ones(toy: TestClient) -> None:
    response = toy.get("/page")
    assert_secure(response.headers)
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
    assert_secure(toy.get("/missing").headers)  # the router's own 404


def test_the_websocket_accept_carries_the_headers(toy: TestClient) -> None:
    with toy.websocket_connect("/ws") as ws:
        headers = {k.decode(): v.decode() for k, v in ws.extra_headers or []}
        ws.send_text("ping")
        assert ws.receive_text() == "ping"
    assert_secure(headers)


@pytest.mark.parametrize("path", ["/refuse", "/no-such-socket"])
def test_a_websocket_refused_before_the_handshake_gets_a_403_with_the_headers(
    toy: TestClient, path: str
) -> None:
    with pytest.raises(WebSocketDenialResponse) as denial, toy.websocket_connect(path):
        pass
    assert denial.value.status_code == 403
    assert_secure(denial.value.headers)


@pytest.mark.parametrize(
    "path",
    [
        "/api/health",
        "/api/jobs",  # 401
        "/api/openapi.json",
        "/api/docs",
        "/api/docs/assets/swagger-ui.css",
        "/api/nope",  # the API app's 404
        "/api",  # the JSON 404 outside it
        "/api/files/u/j.png",  # 403
    ],
)
def test_api_responses_carry_the_headers(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert_secure(response.headers)
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]
