"""Contract tests against the real server (`streamlit run app.py`, demo provider): the original
clients' flow, listing, cancel/delete, idempotency, the body cap on the wire, and the security
headers on the UI, static files, /_stcore and the websocket handshake."""

from __future__ import annotations

import base64
import io
import os
import re
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from core.web.security import SECURITY_HEADERS
from tests.api.conftest import cli
from tests.live_server import LiveServer, launch_live_server

pytestmark = pytest.mark.slow
BODY_TIMEOUT = 1


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("api-live")
    live = launch_live_server(
        base / "data",
        env={
            "RATE_LIMIT_PER_MINUTE": "1000",
            "WORKER_POLL_SECONDS": "0.2",
            "BODY_READ_TIMEOUT": f"{BODY_TIMEOUT}s",
        },
        log_path=base / "server.log",
    )
    yield live
    live.stop()


@pytest.fixture(scope="module")
def api(server: LiveServer) -> Iterator[httpx.Client]:
    """A client authenticated with a token made by the management CLI."""
    added = cli(server.data_dir, "users", "add", "--email", "api@example.com",
                "--password", "long enough")  # fmt: skip
    assert added.returncode == 0, added.stderr
    token = cli(server.data_dir, "tokens", "create", "--email", "api@example.com").stdout.split()[
        -1
    ]
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    ) as client:
        yield client


def assert_secure(headers) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, name


def poll(api: httpx.Client, job_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = api.get("/api/jobs", params={"id": job_id}).json()
        if job["status"] in ("done", "failed", "canceled") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def test_the_original_clients_flow_post_poll_fetch(server: LiveServer, api: httpx.Client) -> None:
    created = api.post("/api/jobs", json={"provider": "demo", "type": "image", "prompt": "a fox"})
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "queued"

    job = poll(api, created.json()["id"])
    assert job["status"] == "done", job
    assert job["result_url"].startswith("/api/files/")  # no PUBLIC_URL: relative

    image = httpx.get(server.url + job["result_url"])  # a plain fetch: no token, no cookie
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.headers["cache-control"].startswith("private, max-age=")
    assert_secure(image.headers)
    Image.open(io.BytesIO(image.content)).verify()


def test_list_cancel_delete_and_idempotency_on_the_wire(api: httpx.Client) -> None:
    body = {"provider": "demo", "prompt": "slow one", "count": 2}
    first = api.post("/api/jobs", json=body, headers={"Idempotency-Key": "live-1"}).json()
    again = api.post("/api/jobs", json=body, headers={"Idempotency-Key": "live-1"}).json()
    assert again["ids"] == first["ids"]

    listed = api.get("/api/jobs", params={"limit": 100}).json()["items"]
    assert set(first["ids"]) <= {item["id"] for item in listed}

    for job_id in first["ids"]:
        job = poll(api, job_id)
        assert job["status"] == "done"
        deleted = api.delete("/api/jobs", params={"id": job_id})
        assert deleted.json() == {"id": job_id, "status": "done", "deleted": True}
        assert api.get("/api/jobs", params={"id": job_id}).status_code == 404


def test_cancel_a_queued_job_on_the_wire(api: httpx.Client) -> None:
    # A transient failure puts the job back in the queue for 30 s: it is queued, not running.
    job_id = api.post(
        "/api/jobs", json={"provider": "demo", "prompt": "a fox [fail:transient:30]"}
    ).json()["id"]
    deadline = time.monotonic() + 20
    while (job := api.get("/api/jobs", params={"id": job_id}).json())["attempts"] < 1 or job[
        "status"
    ] != "queued":
        assert time.monotonic() < deadline, job
        time.sleep(0.1)

    response = api.delete("/api/jobs", params={"id": job_id})
    assert response.json() == {"id": job_id, "status": "canceled", "deleted": False}
    canceled = api.get("/api/jobs", params={"status": "canceled"}).json()["items"]
    assert [item["id"] for item in canceled] == [job_id]


def test_a_body_over_the_cap_is_refused_before_the_client_sends_it(
    server: LiveServer, api: httpx.Client
) -> None:
    auth = api.headers["Authorization"]
    # A JSON route with the usual 64 KB cap (POST /api/jobs takes base64 images: its cap is
    # tested with uploads in test_api_iterate.py).
    for framing in (b"Content-Length: 10000000\r\n", b"Transfer-Encoding: chunked\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/webhooks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                + f"Authorization: {auth}\r\n".encode()
                + b"Content-Type: application/json\r\n"
                + framing
                + b"\r\n"
            )
            if b"chunked" in framing:
                chunk = b"x" * 16_384
                for _ in range(6):  # ~96 KB, never the final 0-chunk
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            else:
                sock.sendall(b"{" + b" " * 4096)  # a sliver of the announced 10 MB
            head = _read_head(sock)
        assert head.startswith(b"HTTP/1.1 413"), head


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def test_security_headers_on_the_ui_static_files_stcore_and_the_api(
    server: LiveServer,
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        index = client.get("/")
        assert index.status_code == 200
        assert_secure(index.headers)
        scripts = re.findall(r'src="\.?/?(static/js/[^"]+\.js)"', index.text)
        assert scripts, "no script tag in the index page"
        script = client.get("/" + scripts[0])
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert_secure(script.headers)
        for path in ("/_stcore/health", "/api/jobs", "/api/health", "/no/such/page"):
            assert_secure(client.get(path).headers)


def _handshake(server: LiveServer, origin: str) -> tuple[str, dict[str, str]]:
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        "GET /_stcore/stream HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{server.port}\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Origin: {origin}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request.encode())
        head = _read_head(sock).split(b"\r\n\r\n", 1)[0].decode("latin-1")
    status, *lines = head.split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def test_the_websocket_handshake_carries_the_headers(server: LiveServer) -> None:
    status, headers = _handshake(server, f"http://127.0.0.1:{server.port}")
    assert " 101 " in status + " ", status
    assert headers["upgrade"].lower() == "websocket"
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, name


def test_a_refused_websocket_handshake_carries_the_headers_too(server: LiveServer) -> None:
    status, headers = _handshake(server, "https://evil.example")
    assert " 403 " in status + " ", status
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, name


# ---- unknown /api paths, forged hosts, proxies, slow and malformed clients ----------------------


UNKNOWN_API_PATHS = [
    "/api/nope",
    "/api/jobs/123",
    "/API/jobs",
    "/Api/Health",
    "/api/files",
    "/api/",
    "/api",
]


@pytest.mark.parametrize("path", UNKNOWN_API_PATHS)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_paths_are_a_json_404_not_the_page(
    server: LiveServer, path: str, method: str
) -> None:
    response = httpx.request(method, server.url + path, timeout=10)
    assert response.status_code == 404, response.text[:200]
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"
    assert set(response.json()["error"]) == {"code", "message", "reason", "params"}
    assert_secure(response.headers)


def test_a_forged_host_never_reaches_the_result_url(server: LiveServer, api: httpx.Client) -> None:
    forged = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    job_id = api.post("/api/jobs", json={"provider": "demo", "prompt": "a fox"}, headers=forged)
    job = poll(api, job_id.json()["id"])
    for url in (
        api.get("/api/jobs", params={"id": job["id"]}, headers=forged).json()["result_url"],
        api.get("/api/jobs", headers=forged).json()["items"][0]["result_url"],
    ):
        assert "evil.example" not in url and url.startswith("/api/files/")


def _cookies(server: LiveServer, path: str, headers: dict[str, str]) -> list[str]:
    response = httpx.get(server.url + path, headers=headers, timeout=10)
    return response.headers.get_list("set-cookie")


def _secure_flags(server: LiveServer, headers: dict[str, str]) -> dict[str, bool]:
    """Whether the sign-out's cookie deletion and Streamlit's XSRF cookie carry Secure."""
    dead = {"Cookie": "studio_session=a-dead-session", **headers}
    (cleared,) = _cookies(server, "/auth/sign-out", dead)
    assert cleared.startswith('studio_session="";')
    health = _cookies(server, "/_stcore/health", headers)  # Streamlit sets its XSRF cookie here
    xsrf = [c for c in health if c.startswith("_streamlit_xsrf=")]
    assert xsrf, "no XSRF cookie from /_stcore/health"
    return {"sign-out": "secure" in cleared.lower(), "xsrf": "secure" in xsrf[0].lower()}


def test_https_from_a_trusted_proxy_makes_every_cookie_secure(server: LiveServer) -> None:
    """FORWARDED_ALLOW_IPS unset: uvicorn trusts loopback, where this test connects from."""
    assert _secure_flags(server, {}) == {"sign-out": False, "xsrf": False}
    https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    assert _secure_flags(server, https) == {"sign-out": True, "xsrf": True}


def test_x_forwarded_proto_from_an_untrusted_peer_is_ignored(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("untrusted")
    other = launch_live_server(
        base / "data", env={"FORWARDED_ALLOW_IPS": "192.0.2.1"}, log_path=base / "server.log"
    )
    try:
        https = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
        assert _secure_flags(other, https) == {"sign-out": False, "xsrf": False}
    finally:
        other.stop()


def test_a_body_that_stalls_gets_408_and_the_connection_closes(
    server: LiveServer, api: httpx.Client
) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=BODY_TIMEOUT + 10) as sock:
        sock.sendall(
            b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: {api.headers['Authorization']}\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            + b'{"provider": "demo", '  # ... and nothing more
        )
        received = _read_until_closed(sock)
    elapsed = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b'"request_timeout"' in received
    assert BODY_TIMEOUT * 0.9 <= elapsed < BODY_TIMEOUT + 5, elapsed


def _read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


@pytest.mark.parametrize(
    "request_bytes",
    [b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"],
    ids=["request-line", "header"],
)
def test_uvicorns_own_400s_are_bare_pinned(server: LiveServer, request_bytes: bytes) -> None:
    """h11 refuses these before any ASGI app (or middleware) runs, so they carry no security
    headers: pinned here, explained in docs/http-server.md."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request_bytes)
        received = _read_until_closed(sock)
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert b"content-type: text/plain" in head.lower()
    assert b"strict-transport-security" not in head.lower()
    assert body == b"Invalid HTTP request received."
