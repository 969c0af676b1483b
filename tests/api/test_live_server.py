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

from core.security import SECURITY_HEADERS
from tests.api.conftest import cli
from tests.live_server import LiveServer, launch_live_server

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    base = tmp_path_factory.mktemp("api-live")
    live = launch_live_server(
        base / "data",
        env={"RATE_LIMIT_PER_MINUTE": "1000", "WORKER_POLL_SECONDS": "0.2"},
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
    assert job["result_url"].startswith(server.url + "/api/files/")

    image = httpx.get(job["result_url"])  # a plain fetch: no token, no cookie
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
    for framing in (b"Content-Length: 10000000\r\n", b"Transfer-Encoding: chunked\r\n"):
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
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
