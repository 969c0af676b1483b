"""The REST API in Supabase mode accepts a Supabase access token as its bearer: Supabase Auth
checks it (GET /auth/v1/user, through the test gateway), the profile decides role and disabled,
and the job calls carry the JWT so row-level security applies. Personal `ist_` tokens still
work; a tampered, expired, foreign-key, signed-out or disabled user's JWT gets 401, and an Auth
outage gets 401 without crashing or logging the token."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import jwt
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.testclient import TestClient
from supabase import ClientOptions, create_client

from core.domain.models import User
from core.domain.settings import Settings
from core.providers import build_providers
from core.runtime import Runtime, install_runtime, shutdown_runtime
from core.services import build_services
from core.web.api import api_routes
from core.web.security import SecurityHeadersMiddleware
from tests.constants import PASSWORD
from tests.integration.gateway import Gateway
from tests.integration.supabase_factory import gateway, make_supabase_backend, supabase_settings

JOB = {"prompt": "a lighthouse at dawn", "provider": "demo"}


@dataclass
class Api:
    gw: Gateway
    runtime: Runtime
    client: TestClient

    def sign_up(self, email: str) -> User:
        return self.runtime.services.accounts.sign_up(email, PASSWORD).user

    def access_token(self, email: str) -> str:
        """Sign in with Supabase Auth as an API client would (supabase-py, anon key)."""
        options = ClientOptions(auto_refresh_token=False, persist_session=False)
        supabase = create_client(self.gw.url, self.gw.anon_key, options)
        session = supabase.auth.sign_in_with_password({"email": email, "password": PASSWORD})
        assert session.session is not None
        return session.session.access_token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(settings: Settings, tmp_path: Path) -> Iterator[Api]:
    gw = gateway()
    config = replace(
        supabase_settings(settings, gw), worker_enabled=False, rate_limit_per_minute=1000
    )
    factory = make_supabase_backend(config, tmp_path)
    backend = next(factory)
    providers = build_providers(config)
    runtime = Runtime(config, backend, providers, build_services(backend, providers, config))
    install_runtime(runtime)
    app = Starlette(routes=api_routes(), middleware=[Middleware(SecurityHeadersMiddleware)])
    try:
        with TestClient(app) as client:
            yield Api(gw, runtime, client)
    finally:
        gw.user_fault = None
        gw.record = False
        gw.recorded.clear()
        shutdown_runtime()
        factory.close()


@pytest.fixture
def users(api: Api) -> dict[str, User]:
    """The first confirmed account is the admin; alice and bob are plain users."""
    return {name: api.sign_up(f"{name}@example.com") for name in ("owner", "alice", "bob")}


def claims_of(token: str) -> dict:
    # test-side only, to forge variants of a real token
    return jwt.decode(token, options={"verify_signature": False})


def test_a_supabase_access_token_creates_and_reads_jobs_under_row_level_security(api, users):
    alice = api.access_token("alice@example.com")
    created = api.client.post("/api/jobs", json=JOB, headers=bearer(alice))
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]

    api.gw.recorded.clear()
    api.gw.record = True
    read = api.client.get("/api/jobs", params={"id": job_id}, headers=bearer(alice))
    api.gw.record = False
    assert read.status_code == 200, read.text
    assert read.json()["id"] == job_id
    assert read.json()["prompt"] == JOB["prompt"]
    # verified by Supabase Auth, and the row read with alice's JWT (so RLS applied)
    checks = [r for r in api.gw.recorded if r.path == "/auth/v1/user"]
    assert [r.headers["authorization"] for r in checks] == [f"Bearer {alice}"]
    job_reads = [r for r in api.gw.recorded if "job" in r.path]
    assert job_reads, [r.path for r in api.gw.recorded]
    assert all(r.headers["authorization"] == f"Bearer {alice}" for r in job_reads), [
        (r.path, r.headers["authorization"] == f"Bearer {alice}") for r in api.gw.recorded
    ]

    with api.gw.cluster.connect() as conn:
        (owner,) = conn.execute(
            "select user_id from public.jobs where id = %s", [job_id]
        ).fetchone()
    assert str(owner) == users["alice"].id

    bob = api.access_token("bob@example.com")
    other = api.client.get("/api/jobs", params={"id": job_id}, headers=bearer(bob))
    assert other.status_code == 404
    listed = api.client.get("/api/jobs", headers=bearer(bob))
    assert listed.status_code == 200
    assert job_id not in listed.text


def test_a_personal_api_token_still_works_in_supabase_mode(api, users):
    _, secret = api.runtime.services.accounts.create_api_token(users["alice"], "cli")
    created = api.client.post("/api/jobs", json=JOB, headers=bearer(secret))
    assert created.status_code == 201, created.text
    read = api.client.get("/api/jobs", params={"id": created.json()["id"]}, headers=bearer(secret))
    assert read.status_code == 200
    assert api.client.get("/api/jobs", headers=bearer(secret + "x")).status_code == 401


def _tamper(token: str) -> str:
    head, body, sig = token.split(".")
    # a middle character: the last one may differ only in base64 padding bits
    i = len(sig) // 2
    return f"{head}.{body}.{sig[:i]}{'A' if sig[i] != 'A' else 'B'}{sig[i + 1 :]}"


def test_a_tampered_expired_or_foreign_jwt_gets_401(api, users):
    token = api.access_token("alice@example.com")
    claims = claims_of(token)
    fields = {k: v for k, v in claims.items() if k not in ("iat", "exp")}
    forged = {
        "tampered signature": _tamper(token),
        "expired": api.gw._sign(fields, seconds=-30),
        "wrong key": jwt.encode(claims, "not-the-project-secret-" * 2, algorithm="HS256"),
        "other claims, same signature": ".".join(
            [
                token.split(".")[0],
                jwt.encode({**claims, "sub": users["owner"].id}, "x" * 32).split(".")[1],
                token.split(".")[2],
            ]
        ),
        "no signature": jwt.encode(claims, None, algorithm="none") + "x",
        "anon key": api.gw.anon_key,
        "service key": api.gw.service_key,
    }
    for name, bad in forged.items():
        response = api.client.post("/api/jobs", json=JOB, headers=bearer(bad))
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "unauthorized", name
    # the control: the same claims, signed with the project's key and unexpired, are accepted
    fresh = api.gw._sign(fields, seconds=60)
    assert api.client.get("/api/jobs", headers=bearer(fresh)).status_code == 200
    with api.gw.cluster.connect() as conn:
        (count,) = conn.execute("select count(*) from public.jobs").fetchone()
    assert count == 0


def test_a_signed_out_sessions_jwt_gets_401(api, users):
    options = ClientOptions(auto_refresh_token=False, persist_session=False)
    supabase = create_client(api.gw.url, api.gw.anon_key, options)
    session = supabase.auth.sign_in_with_password(
        {"email": "alice@example.com", "password": PASSWORD}
    ).session
    token = session.access_token
    assert api.client.get("/api/jobs", headers=bearer(token)).status_code == 200
    supabase.auth.admin.sign_out(token, "local")
    assert api.client.get("/api/jobs", headers=bearer(token)).status_code == 401


def test_a_disabled_users_jwt_gets_401(api, users):
    token = api.access_token("alice@example.com")
    assert api.client.get("/api/jobs", headers=bearer(token)).status_code == 200
    api.runtime.backend.accounts.set_disabled(users["alice"].id, True)
    response = api.client.post("/api/jobs", json=JOB, headers=bearer(token))
    assert response.status_code == 401
    api.runtime.backend.accounts.set_disabled(users["alice"].id, False)
    assert api.client.get("/api/jobs", headers=bearer(token)).status_code == 200


def test_a_user_whose_profile_is_gone_cannot_submit(api, users):
    alice = users["alice"]
    _, secret = api.runtime.services.accounts.create_api_token(alice, "cli")
    session = api.runtime.services.accounts.sign_in("alice@example.com", PASSWORD).session_token
    token = api.access_token("alice@example.com")
    with api.gw.cluster.connect() as conn:
        conn.execute("delete from public.profiles where id = %s", [alice.id])

    for name, credential in (("ist_ token", secret), ("Supabase JWT", token)):
        response = api.client.post("/api/jobs", json=JOB, headers=bearer(credential))
        assert response.status_code == 401, name
    assert api.runtime.services.accounts.user_for_session(session) is None
    # straight to PostgREST with the user's JWT (the anon key is public)
    batch = [{"id": str(uuid.uuid4()), "user_id": alice.id, "provider": "demo",
              "model": "demo-1", "kind": "generate", "prompt": "a kite", "params": {},
              "batch_id": str(uuid.uuid4()), "max_attempts": 4}]  # fmt: skip
    direct = httpx.post(
        f"{api.gw.url}/rest/v1/rpc/submit_jobs",
        json={"p_jobs": batch, "p_rate_limit": 10},
        headers={"apikey": api.gw.anon_key, **bearer(token)},
    )
    assert direct.status_code == 403, direct.text
    with api.gw.cluster.connect() as conn:
        assert conn.execute("select count(*) from public.jobs").fetchone()[0] == 0


@pytest.mark.parametrize(
    "fault",
    [
        (503, "upstream connect error", "text/plain"),
        (500, '{"code": 500, "msg": "Internal Server Error"}', "application/json"),
        (500, "<html>oops</html>", "text/html"),
        (429, '{"code": 429, "error_code": "over_request_rate_limit"}', "application/json"),
    ],
)
def test_an_auth_outage_refuses_the_jwt_with_a_warning_that_omits_it(api, users, caplog, fault):
    token = api.access_token("alice@example.com")
    api.gw.user_fault = fault
    with caplog.at_level(logging.WARNING, logger="core.backends.supabase.accounts"):
        response = api.client.get("/api/jobs", headers=bearer(token))
    assert response.status_code == 401
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("core.")]
    assert any("could not check an access token" in m for m in warnings)
    assert token not in caplog.text
    assert token.split(".")[2] not in caplog.text
    api.gw.user_fault = None
    assert api.client.get("/api/jobs", headers=bearer(token)).status_code == 200
