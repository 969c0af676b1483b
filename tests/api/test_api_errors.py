"""The bad-input matrix: every refusal has its status, the {"error": {"code", "message", …}} shape,
no internals in the message, and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from core.domain.settings import Settings
from core.runtime import Runtime, install_runtime, shutdown_runtime
from core.web.security import SECURITY_HEADERS
from core.web.uploads import JSON_UPLOAD_MAX_BYTES
from tests.api.conftest import ApiUser, build_test_runtime, make_app

# POST /api/jobs takes base64 images in JSON (edit and iterate), so its JSON cap is this one;
# other routes keep core.web.http.MAX_BODY_BYTES.
MAX_BODY_BYTES = JSON_UPLOAD_MAX_BYTES

GOOD = {"provider": "demo", "type": "image", "prompt": "a red kite"}


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "reason", "params"}
    assert body["error"]["reason"] and isinstance(body["error"]["params"], dict)
    assert body["error"]["message"].strip()
    assert "Traceback" not in response.text and 'File "' not in response.text
    # pydantic's findings are reworded, never passed through
    assert "pydantic" not in response.text.lower() and "Input should" not in response.text
    assert response.headers["cache-control"] == "no-store"
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


def cursor_of(value: object) -> str:
    """A list cursor holding `value` (encoded like the real ones)."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def call_asgi(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    receive: Callable[[], Awaitable[dict]],
) -> tuple[int, dict[str, str], bytes]:
    """Drive the ASGI app directly (raw headers, hand-made body events); returns the status,
    the response headers and the body."""
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(make_app()(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    names = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], names, body


def job_count(runtime: Runtime, user: ApiUser) -> int:
    from core.domain.models import JobQuery

    return len(runtime.services.jobs.list_jobs(user.user, JobQuery(limit=100)).items)


# ---- 401 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer not-a-token"],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_requests_without_a_valid_bearer_token_get_401(
    client: TestClient, runtime: Runtime, alice: ApiUser, authorization: str | None, method: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    params = {"id": str(uuid.uuid4())} if method == "DELETE" else None
    response = client.request(method, "/api/jobs", json=GOOD, params=params, headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    assert job_count(runtime, alice) == 0


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/json", "Content-Length": "999999"},
    ],
)
def test_the_token_is_checked_before_the_body(client: TestClient, headers: dict) -> None:
    """A client without a valid token gets 401 whatever its body: no 413/415 and no read."""
    response = client.post(
        "/api/jobs", content=b"{", headers={**headers, "Authorization": "Bearer x"}
    )
    assert_error(response, 401, "unauthorized")


def test_an_oversized_token_is_refused_without_a_lookup(client: TestClient) -> None:
    response = client.get("/api/jobs", headers={"Authorization": "Bearer " + "x" * 100_000})
    assert_error(response, 401)


# ---- 400 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"",
        b"not json",
        b'{"provider": "demo", "prompt": NaN}',
        b"\xff\xfe\x00",
        b"[" * 100_00 + b"]" * 100_00,
        b'{"provider": "demo", "prompt": "\\ud800"}',
        b'{"provider": "demo", "prompt": "a\\udfffb"}',
        b'{"provider": "demo", "prompt": "\xed\xa0\x80"}',
        b'{"provider": "demo", "prompt": "x", "\\ud800": 1}',
        b'{"provider": "demo", "prompt": "x", "params": {"style": ["\\udc00"]}}',
        b'{"provider": "demo", "prompt": "a\\u0000b"}',
    ],
    ids=[
        "truncated",
        "empty",
        "text",
        "nan",
        "binary",
        "deep-nesting",
        "lone-surrogate",
        "low-surrogate",
        "utf8-encoded-surrogate",
        "surrogate-key",
        "surrogate-in-params",
        "nul",
    ],
)
def test_malformed_json_is_400(
    client: TestClient, runtime: Runtime, alice: ApiUser, body: bytes
) -> None:
    headers = {**alice.headers, "Content-Type": "application/json"}
    assert_error(client.post("/api/jobs", content=body, headers=headers), 400, "bad_request")
    assert job_count(runtime, alice) == 0


@pytest.mark.parametrize(
    "body",
    [
        [GOOD],
        "a string",
        42,
        None,
        {**GOOD, "provider": 1},
        {**GOOD, "prompt": ["a", "b"]},
        {**GOOD, "prompt": None},
        {**GOOD, "model": 5},
        {**GOOD, "type": True},
        {**GOOD, "params": ["aspect_ratio"]},
        {**GOOD, "params": "16:9"},
        {**GOOD, "count": "2"},
        {**GOOD, "count": 1.5},
        {**GOOD, "count": True},
    ],
)
def test_wrong_json_types_are_400(
    client: TestClient, runtime: Runtime, alice: ApiUser, body: object
) -> None:
    headers = {**alice.headers, "Content-Type": "application/json"}
    response = client.post("/api/jobs", content=json.dumps(body), headers=headers)
    assert_error(response, 400, "bad_request")
    assert job_count(runtime, alice) == 0


@pytest.mark.parametrize("limit", ["abc", "-1", "1.5", "", "\u00b2", "\u0663", "1\u00b2"])
def test_a_non_numeric_limit_is_400(client: TestClient, alice: ApiUser, limit: str) -> None:
    response = client.get("/api/jobs", params={"limit": limit}, headers=alice.headers)
    assert_error(response, 400, "bad_request")


def test_delete_without_an_id_is_400(client: TestClient, alice: ApiUser) -> None:
    assert_error(client.delete("/api/jobs", headers=alice.headers), 400, "bad_request")


def test_a_non_numeric_content_length_is_400(client: TestClient, alice: ApiUser) -> None:
    headers = {**alice.headers, "Content-Type": "application/json", "Content-Length": "x"}
    assert_error(client.post("/api/jobs", content=b"{}", headers=headers), 400)


@pytest.mark.parametrize("declared", [b"\xb2", b"1" * 5000])
def test_an_odd_content_length_is_refused_unparsed(alice: ApiUser, declared: bytes) -> None:
    """uvicorn's h11 checks Content-Length itself; another server might pass these on."""
    headers = [
        (b"authorization", f"Bearer {alice.token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", declared),
    ]

    async def receive() -> dict:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    status, _, body = call_asgi("POST", "/api/jobs", headers, receive)
    assert (status, json.loads(body)["error"]["code"]) == (
        (400, "bad_request") if declared == b"\xb2" else (413, "payload_too_large")
    )


@pytest.mark.parametrize(
    "exp", ["%C2%B2", "9" * 5000, "%D9%A3", "1%C2%B2", "-1", "", "1" * 13, "%20123"]
)
def test_a_malformed_signed_url_expiry_is_403(client: TestClient, exp: str) -> None:
    response = client.get(f"/api/files/u/j.png?exp={exp}&sig=abc")
    assert_error(response, 403, "forbidden")


# ---- 404 / 405 --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "job_id"),
    [
        ("GET", "3f2b8c1e-5a6d-4e7f-8a9b-0c1d2e3f4a5b"),
        ("GET", "not-a-uuid"),
        ("GET", ""),
        ("GET", "../../etc/passwd"),
        ("DELETE", "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"),
        ("DELETE", "not-a-uuid"),
        ("DELETE", "../../etc/passwd"),
    ],
)
def test_unknown_ids_are_404(client: TestClient, alice: ApiUser, method: str, job_id: str) -> None:
    response = client.request(method, "/api/jobs", params={"id": job_id}, headers=alice.headers)
    assert_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "path",
    ["/api/nope", "/api/jobs/123", "/api/jobs/", "/API/jobs", "/Api/Health", "/api/files",
     "/api/files/", "/api/", "/api", "/API"],
)  # fmt: skip
@pytest.mark.parametrize("method", ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"])
def test_unknown_api_paths_are_a_json_404_with_the_security_headers(
    client: TestClient, alice: ApiUser, method: str, path: str
) -> None:
    response = client.request(method, path, headers=alice.headers)
    assert response.status_code == 404
    if method != "HEAD":
        assert_error(response, 404, "not_found")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/jobs", "GET, POST, DELETE"),
        ("PATCH", "/api/jobs", "GET, POST, DELETE"),
        ("OPTIONS", "/api/jobs", "GET, POST, DELETE"),
        ("POST", "/api/health", "GET"),
        ("DELETE", "/api/openapi.json", "GET"),
        ("POST", "/api/files/u/j.png", "GET"),
    ],
)
def test_other_methods_are_405_with_allow(
    client: TestClient, alice: ApiUser, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path, headers=alice.headers)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == allowed


def test_head_answers_like_get_without_a_body(client: TestClient, alice: ApiUser) -> None:
    for path, headers in (("/api/health", {}), ("/api/jobs", alice.headers)):
        got = client.get(path, headers=headers)
        head = client.head(path, headers=headers)
        assert (head.status_code, head.content) == (got.status_code, b"")
        assert head.headers["content-type"] == got.headers["content-type"]
    assert client.head("/api/jobs").status_code == 401


@pytest.mark.parametrize(
    ("request_args", "status", "message"),
    [
        ({"json": {**GOOD, "provider": 1}}, 400, "The field 'provider' must be a string."),
        ({"json": {**GOOD, "count": "2"}}, 400, "The field 'count' must be a whole number."),
        ({"json": {**GOOD, "params": []}}, 400, "The field 'params' must be an object."),
        ({"json": [GOOD]}, 400, "The body must be a JSON object."),
        ({"json": {**GOOD, "count": 9}}, 422, "The field 'count' must be between 1 and 4."),
        ({"json": {"prompt": "x"}}, 422, "The field 'provider' is required."),
        ({"json": {**GOOD, "prompt": ""}}, 422, "The field 'prompt' must not be empty."),
        ({"json": {**GOOD, "a": 1, "b": 2}}, 422, "Unknown field(s): a, b."),
        ({"json": {**GOOD, "provider": 1, "x": 1}}, 422, "Unknown field(s): x."),
        ({"json": {"provider": 1}}, 422, "The field 'prompt' is required."),
        ({"params": {"limit": "x"}}, 400, "The parameter 'limit' must be a whole number."),
        ({"params": {"limit": "0"}}, 422, "The parameter 'limit' must be between 1 and 100."),
        (
            {"params": {"status": "queued,finished"}},
            422,
            "Unknown status 'finished'. Choose from: 'queued', 'processing', 'done', 'failed' "
            "or 'canceled'.",
        ),
    ],
)
def test_invalid_requests_are_explained_in_plain_words(
    client: TestClient, alice: ApiUser, request_args: dict, status: int, message: str
) -> None:
    method = "POST" if "json" in request_args else "GET"
    response = client.request(method, "/api/jobs", headers=alice.headers, **request_args)
    assert assert_error(response, status)["message"] == message


# ---- 413 / 415 --------------------------------------------------------------------------------


def test_a_body_over_the_cap_is_413(client: TestClient, runtime: Runtime, alice: ApiUser) -> None:
    body = {**GOOD, "prompt": "x" * MAX_BODY_BYTES}
    assert_error(client.post("/api/jobs", json=body, headers=alice.headers), 413)
    assert job_count(runtime, alice) == 0


def test_a_streamed_body_over_the_cap_is_refused_before_it_is_all_read(
    runtime: Runtime, alice: ApiUser
) -> None:
    """Drive the ASGI app directly with an endless chunked body (no Content-Length)."""
    chunk = b" " * 16_384
    received: list[int] = []
    sent: list[dict] = []

    async def receive() -> dict:
        received.append(len(chunk))
        if len(received) * len(chunk) > 2 * MAX_BODY_BYTES:  # far past the cap
            raise AssertionError("the app kept reading")
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [
        (b"authorization", f"Bearer {alice.token}".encode()),
        (b"content-type", b"application/json"),
        (b"transfer-encoding", b"chunked"),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/jobs",
        "raw_path": b"/api/jobs",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    asyncio.run(make_app()(scope, receive, send))

    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert start["status"] == 413
    assert json.loads(body)["error"]["code"] == "payload_too_large"
    assert sum(received) <= MAX_BODY_BYTES + len(chunk)


def _json_post_headers(user: ApiUser) -> list[tuple[bytes, bytes]]:
    return [
        (b"authorization", f"Bearer {user.token}".encode()),
        (b"content-type", b"application/json"),
        (b"content-length", b"1000"),
    ]


def test_a_body_that_stalls_is_408_and_closes_the_connection(
    runtime: Runtime, alice: ApiUser
) -> None:
    runtime.settings = replace(runtime.settings, body_read_timeout=0.3)
    calls = 0

    async def receive() -> dict:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b'{"provider": "demo", ', "more_body": True}
        await asyncio.sleep(30)  # the rest never comes
        raise AssertionError("the app waited for the body")

    status, headers, body = call_asgi("POST", "/api/jobs", _json_post_headers(alice), receive)
    assert status == 408
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert headers["connection"] == "close"
    assert job_count(runtime, alice) == 0


def test_a_client_gone_mid_body_is_a_4xx_not_a_logged_500(
    runtime: Runtime, alice: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    events = iter(
        [
            {"type": "http.request", "body": b'{"provider": ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict:
        return next(events)

    with caplog.at_level(logging.ERROR, logger="core.web.http"):
        status, _, _ = call_asgi("POST", "/api/jobs", _json_post_headers(alice), receive)
    assert status == 400
    assert not caplog.records


def test_a_declared_length_over_the_cap_is_refused_without_reading(
    client: TestClient, alice: ApiUser
) -> None:
    headers = {
        **alice.headers,
        "Content-Type": "application/json",
        "Content-Length": str(10 * MAX_BODY_BYTES),
    }
    response = client.post("/api/jobs", content=b"{}", headers=headers)
    assert_error(response, 413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type",
    # (multipart/form-data is createJob's other body: tests/api/test_api_iterate.py)
    [None, "text/plain", "application/x-www-form-urlencoded"],
)
def test_a_non_json_body_is_415(
    client: TestClient, runtime: Runtime, alice: ApiUser, content_type: str | None
) -> None:
    headers = dict(alice.headers)
    if content_type:
        headers["Content-Type"] = content_type
    response = client.post("/api/jobs", content=b'{"provider":"demo"}', headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert job_count(runtime, alice) == 0


def test_json_with_a_charset_or_a_json_suffix_type_is_accepted(
    client: TestClient, alice: ApiUser
) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        headers = {**alice.headers, "Content-Type": content_type}
        response = client.post(
            "/api/jobs", content=b'{"provider":"demo","prompt":"x"}', headers=headers
        )
        assert response.status_code == 201, response.text


# ---- 422 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"provider": "midjourney"}, "Unknown provider"),
        ({"model": "dall-e-9"}, "model"),
        ({"params": {"colour": "red"}}, "colour"),
        ({"params": {"aspect_ratio": "5:1"}}, "aspect_ratio"),
        ({"params": {"seed": -1}}, "seed"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 50_000}, "characters"),
        ({"count": 0}, "between 1 and 4"),
        ({"count": 5}, "between 1 and 4"),
        ({"type": "video"}, "image"),
        ({"provider": "openai"}, "OPENAI_API_KEY"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_requests_are_422_with_a_clear_message(
    client: TestClient, runtime: Runtime, alice: ApiUser, change: dict, needle: str
) -> None:
    error = assert_error(
        client.post("/api/jobs", json={**GOOD, **change}, headers=alice.headers), 422
    )
    assert needle.lower() in error["message"].lower()
    assert job_count(runtime, alice) == 0


@pytest.mark.parametrize("missing", ["provider", "prompt"])
def test_a_missing_required_field_is_422(client: TestClient, alice: ApiUser, missing: str) -> None:
    body = {k: v for k, v in GOOD.items() if k != missing}
    error = assert_error(client.post("/api/jobs", json=body, headers=alice.headers), 422)
    assert missing in error["message"]


def test_an_unavailable_provider_is_422_provider_unavailable(
    client: TestClient, alice: ApiUser
) -> None:
    response = client.post("/api/jobs", json={**GOOD, "provider": "gemini"}, headers=alice.headers)
    assert_error(response, 422, "provider_unavailable")


def test_an_over_long_idempotency_key_is_422(client: TestClient, alice: ApiUser) -> None:
    headers = {**alice.headers, "Idempotency-Key": "k" * 201}
    assert_error(client.post("/api/jobs", json=GOOD, headers=headers), 422)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"status": "finished"},
        {"provider": "midjourney"},
        {"cursor": "garbage!"},
        {"limit": "9" * 5000},
        {"limit": "0" * 10},
        {"cursor": cursor_of([10**30, str(uuid.uuid4())])},
        {"cursor": cursor_of([-(10**30), str(uuid.uuid4())])},
        {"cursor": cursor_of([True, str(uuid.uuid4())])},
        {"cursor": base64.urlsafe_b64encode(b"[" * 3000).decode()},
        {"cursor": cursor_of([1, "a", "b"])},
        {"cursor": cursor_of({"created_at": 1, "id": "a"})},
        {"cursor": cursor_of("ab")},
        {"cursor": cursor_of([1, "x" * 1000])},
    ],
    ids=[
        "limit-0",
        "limit-101",
        "status",
        "provider",
        "cursor-garbage",
        "limit-5000-digits",
        "limit-zeros",
        "cursor-1e30",
        "cursor-minus-1e30",
        "cursor-bool",
        "cursor-nested",
        "cursor-three",
        "cursor-object",
        "cursor-string",
        "cursor-too-long",
    ],
)
def test_bad_list_parameters_are_422(client: TestClient, alice: ApiUser, params: dict) -> None:
    assert_error(client.get("/api/jobs", params=params, headers=alice.headers), 422)


# ---- 429 / 500 --------------------------------------------------------------------------------


@pytest.fixture
def limited(settings: Settings):
    runtime = build_test_runtime(replace(settings, worker_enabled=False, rate_limit_per_minute=2))
    install_runtime(runtime)
    yield runtime
    shutdown_runtime()


def test_submissions_over_the_rate_limit_are_429_with_retry_after(limited: Runtime) -> None:
    user = limited.services.accounts.sign_up("carol@example.com", "correct horse battery").user
    _, token = limited.services.accounts.create_api_token(user, "t")
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(make_app()) as client:
        for _ in range(2):
            assert client.post("/api/jobs", json=GOOD, headers=headers).status_code == 201
        response = client.post("/api/jobs", json=GOOD, headers=headers)
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_an_unexpected_failure_is_a_generic_500_logged_server_side(
    client: TestClient, runtime: Runtime, alice: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = client.post("/api/jobs", json=GOOD, headers=alice.headers).json()["id"]
    runtime.backend.close()  # the database goes away under the running app
    with caplog.at_level(logging.ERROR, logger="core.web.http"):
        response = client.get("/api/health")
        response_jobs = client.get("/api/jobs", params={"id": job_id}, headers=alice.headers)
    for failed in (response, response_jobs):
        error = assert_error(failed, 500, "internal_error")
        assert error["message"] == "Something went wrong on our side."
        assert "sqlite" not in failed.text.lower()
    assert any(record.exc_info for record in caplog.records)
