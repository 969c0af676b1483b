"""A test gateway that serves the PostgREST, Storage and Auth calls supabase-py 2.34 makes on the
throwaway PostgreSQL: every request runs in one transaction under the role and claims of its
bearer token (HS256 JWTs; the anon and service keys are JWTs too), so the grants and policies of
supabase-schema.sql decide, as in Supabase. Storage metadata lives in storage.objects (storage
policies apply) and bytes on disk; signed URLs carry a JWT bound to the object and its expiry;
Auth keeps bcrypt hashes (pgcrypto) in auth.users."""

from __future__ import annotations

import asyncio
import json
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import psycopg
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.integration.gateway_auth import AuthRoutes
from tests.integration.gateway_rest import (
    OBJECT_MEDIA,
    Caller,
    Rest,
    RestError,
    as_caller,
    pg_error,
)
from tests.integration.gateway_storage import StorageRoutes
from tests.integration.pg import PgCluster, free_port

API_ROLES = ("anon", "authenticated", "service_role")


@dataclass
class Recorded:
    """One request as the client sent it (for the request-shape contract tests)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Gateway(AuthRoutes, StorageRoutes):
    """`url`, `anon_key`, `service_key` are what SUPABASE_URL and the keys are set to."""

    cluster: PgCluster
    files: Path
    access_ttl: int = 3600
    autoconfirm: bool = True
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    recorded: list[Recorded] = field(default_factory=list)
    record: bool = False
    # (status, body, media type) answered to refresh-token grants instead of refreshing: an
    # Auth outage or rate limit
    refresh_fault: tuple[int, str, str] | None = None
    # the same for GET /auth/v1/user (checking an access token)
    user_fault: tuple[int, str, str] | None = None
    sent_emails: list[dict[str, str]] = field(default_factory=list)
    # Every request as "METHOD /path" (always on: the round-trip tests count them), and a
    # delay added to each one (what a distant Supabase costs per round trip, for benchmarks).
    requests: list[str] = field(default_factory=list)
    delay: float = 0.0
    recovery_tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    recovery_ttl: int = 3600

    def __post_init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.anon_key = self._sign({"iss": "supabase", "role": "anon"}, years=10)
        self.service_key = self._sign({"iss": "supabase", "role": "service_role"}, years=10)
        self._pool: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._rest = Rest()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.files.mkdir(parents=True, exist_ok=True)

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> Gateway:
        app = Starlette(
            routes=[
                Route("/rest/v1/rpc/{fn}", self._rpc, methods=["POST"]),
                Route("/rest/v1/{table}", self._table, methods=["GET", "POST", "PATCH", "DELETE"]),
                Route("/auth/v1/signup", self._signup, methods=["POST"]),
                Route("/auth/v1/token", self._token, methods=["POST"]),
                Route("/auth/v1/user", self._user, methods=["GET"]),
                Route("/auth/v1/user", self._update_user, methods=["PUT"]),
                Route("/auth/v1/recover", self._recover, methods=["POST"]),
                Route("/auth/v1/verify", self._verify, methods=["POST"]),
                Route("/auth/v1/logout", self._logout, methods=["POST"]),
                Route("/auth/v1/admin/users", self._admin_create_user, methods=["POST"]),
                Route(
                    "/auth/v1/admin/users/{user_id}", self._admin_delete_user, methods=["DELETE"]
                ),
                Route("/auth/v1/admin/users/{user_id}", self._admin_update_user, methods=["PUT"]),
                Route(
                    "/storage/v1/object/sign/{bucket}/{path:path}",
                    self._sign_or_serve,
                    methods=["POST", "GET"],
                ),
                Route("/storage/v1/object/sign/{bucket}", self._sign_many, methods=["POST"]),
                Route("/storage/v1/object/list/{bucket}", self._list, methods=["POST"]),
                Route("/storage/v1/object/info/{bucket}/{path:path}", self._info, methods=["GET"]),
                Route(
                    "/storage/v1/object/{bucket}/{path:path}", self._object, methods=["GET", "POST"]
                ),
                Route("/storage/v1/object/{bucket}", self._remove, methods=["DELETE"]),
            ]
        )
        config = uvicorn.Config(
            self._counted(app),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="gateway")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test gateway did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        while not self._pool.empty():
            self._pool.get_nowait().close()

    # ---- plumbing --------------------------------------------------------------------------

    def _counted(self, app: Any) -> Any:
        """`app` with every HTTP request logged in `requests` and held `delay` seconds."""

        async def counted(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.requests.append(f"{scope['method']} {scope['path']}")
                if self.delay > 0:
                    await asyncio.sleep(self.delay)
            await app(scope, receive, send)

        return counted

    def _sign(self, claims: dict[str, Any], *, years: int = 0, seconds: int = 0) -> str:
        now = int(time.time())
        exp = now + years * 365 * 86400 + seconds
        return jwt.encode({**claims, "iat": now, "exp": exp}, self.secret, algorithm="HS256")

    def _decode(self, token: str) -> dict[str, Any]:
        return jwt.decode(token, self.secret, algorithms=["HS256"], options={"verify_aud": False})

    def _caller(self, request: Request) -> Caller:
        """The role and claims of the bearer token; the apikey must be one of the project's."""
        apikey = request.headers.get("apikey", "")
        auth = request.headers.get("authorization", "")
        if apikey not in (self.anon_key, self.service_key):
            raise RestError(401, "PGRST301", "Invalid API key")
        token = auth[7:] if auth.lower().startswith("bearer ") else apikey
        try:
            claims = self._decode(token)
        except jwt.ExpiredSignatureError:
            raise RestError(401, "PGRST303", "JWT expired") from None
        except jwt.InvalidTokenError:
            raise RestError(401, "PGRST301", "JWT could not be decoded") from None
        role = claims.get("role")
        if role not in API_ROLES:
            raise RestError(401, "PGRST301", "JWT role is not an API role")
        return Caller(role=role, claims=claims)

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self._pool.get_nowait()
        except queue.Empty:
            conn = self.cluster.connect("authenticator")
        try:
            yield conn
        finally:
            if conn.closed or conn.broken:
                conn.close()
            else:
                self._pool.put(conn)

    def _run(self, caller: Caller, fn: Any, *args: Any) -> Any:
        with self._conn() as conn:
            try:
                with as_caller(conn, caller):
                    return fn(conn, *args)
            except psycopg.Error as exc:
                raise pg_error(exc, caller.role) from exc

    async def _record(self, request: Request) -> bytes:
        body = await request.body()
        if self.record:
            self.recorded.append(
                Recorded(
                    request.method,
                    request.url.path,
                    request.url.query,
                    {k.lower(): v for k, v in request.headers.items()},
                    body,
                )
            )
        return body

    # ---- PostgREST -------------------------------------------------------------------------

    async def _table(self, request: Request) -> Response:
        body = await self._record(request)
        table = request.path_params["table"]
        params = list(request.query_params.multi_items())
        prefer = request.headers.get("prefer", "")
        single = OBJECT_MEDIA in request.headers.get("accept", "")
        try:
            caller = self._caller(request)
            payload = json.loads(body) if body else None
            if request.method == "GET":
                rows, total = await run_in_threadpool(
                    self._run,
                    caller,
                    lambda c: self._rest.select(c, table, params, count="count=exact" in prefer),
                )
                headers = {}
                if total is not None:
                    span = f"0-{len(rows) - 1}" if rows else "*"
                    headers["content-range"] = f"{span}/{total}"
                return _rows_response(rows, single, 200, headers)
            if request.method == "POST":
                upsert = None
                if "resolution=merge-duplicates" in prefer:
                    upsert = "merge"
                elif "resolution=ignore-duplicates" in prefer:
                    upsert = "ignore"
                rows = await run_in_threadpool(
                    self._run,
                    caller,
                    lambda c: self._rest.insert(c, table, params, payload, upsert=upsert),
                )
                status = 201
            elif request.method == "PATCH":
                rows = await run_in_threadpool(
                    self._run, caller, lambda c: self._rest.update(c, table, params, payload)
                )
                status = 200
            else:
                rows = await run_in_threadpool(
                    self._run, caller, lambda c: self._rest.delete(c, table, params)
                )
                status = 200
            if "return=minimal" in prefer:
                return Response(status_code=204 if status == 200 else status)
            return _rows_response(rows, single, status, {})
        except RestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    async def _rpc(self, request: Request) -> Response:
        body = await self._record(request)
        try:
            caller = self._caller(request)
            args = json.loads(body) if body else {}
            result = await run_in_threadpool(
                self._run, caller, lambda c: self._rest.rpc(c, request.path_params["fn"], args)
            )
            return JSONResponse(result)
        except RestError as exc:
            return JSONResponse(exc.body(), status_code=exc.status)


def _rows_response(rows: list[Any], single: bool, status: int, headers: dict[str, str]) -> Response:
    if single:
        if len(rows) != 1:
            return JSONResponse(
                {
                    "code": "PGRST116",
                    "message": "JSON object requested, multiple (or no) rows returned",
                    "details": f"The result contains {len(rows)} rows",
                    "hint": None,
                },
                status_code=406,
            )
        return JSONResponse(rows[0], status_code=status, headers=headers)
    return JSONResponse(rows, status_code=status, headers=headers)


_lock = threading.Lock()
_shared: Gateway | None = None


def shared_gateway(cluster: PgCluster, files: Path) -> Gateway:
    """The test process's gateway on `cluster`, started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Gateway(cluster, files).start()
        return _shared
