"""A test gateway that serves the PostgREST, Storage and Auth calls supabase-py 2.34 makes
(testing-supabase.md) on the throwaway PostgreSQL: every request runs in one transaction under
the role and claims of its bearer token (HS256 JWTs; the anon and service keys are JWTs too), so
the grants and policies of supabase-schema.sql decide, as in Supabase. Storage metadata lives in
storage.objects (storage policies apply) and bytes on disk; signed URLs carry a JWT bound to the
object and its expiry; Auth keeps bcrypt hashes (pgcrypto) in auth.users."""

from __future__ import annotations

import hashlib
import json
import queue
import re
import secrets
import threading
import time
import uuid
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

from tests.integration.gateway_rest import (
    OBJECT_MEDIA,
    Caller,
    Rest,
    RestError,
    as_caller,
    pg_error,
)
from tests.integration.pg import PgCluster, free_port

API_ROLES = ("anon", "authenticated", "service_role")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Recorded:
    """One request as the client sent it (for the request-shape contract tests)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class AuthError(Exception):
    def __init__(self, status: int, error_code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.error_code, self.msg = status, error_code, msg


class StorageError(Exception):
    def __init__(self, status: int, error: str, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message
        self.code = code or str(status)


@dataclass
class Gateway:
    """`url`, `anon_key`, `service_key` are what SUPABASE_URL and the keys are set to."""

    cluster: PgCluster
    files: Path
    access_ttl: int = 3600
    autoconfirm: bool = True
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    recorded: list[Recorded] = field(default_factory=list)
    record: bool = False

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
                Route("/auth/v1/logout", self._logout, methods=["POST"]),
                Route("/auth/v1/admin/users", self._admin_create_user, methods=["POST"]),
                Route(
                    "/auth/v1/admin/users/{user_id}", self._admin_delete_user, methods=["DELETE"]
                ),
                Route(
                    "/storage/v1/object/sign/{bucket}/{path:path}",
                    self._sign_or_serve,
                    methods=["POST", "GET"],
                ),
                Route("/storage/v1/object/sign/{bucket}", self._sign_many, methods=["POST"]),
                Route("/storage/v1/object/info/{bucket}/{path:path}", self._info, methods=["GET"]),
                Route(
                    "/storage/v1/object/{bucket}/{path:path}", self._object, methods=["GET", "POST"]
                ),
                Route("/storage/v1/object/{bucket}", self._remove, methods=["DELETE"]),
            ]
        )
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
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

    # ---- Auth (GoTrue) ---------------------------------------------------------------------

    async def _signup(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        try:
            self._caller(request)
            email = str(body.get("email") or "").strip().lower()
            password = str(body.get("password") or "")
            if not _EMAIL.match(email):
                raise AuthError(400, "validation_failed", "Unable to validate email address")
            if len(password) < 6:
                raise AuthError(422, "weak_password", "Password should be at least 6 characters.")
            user = await run_in_threadpool(self._create_user, email, password)
            if not self.autoconfirm:
                return JSONResponse(_user_json(user))
            return JSONResponse(await run_in_threadpool(self._new_session, user, None))
        except AuthError as exc:
            return _auth_error(exc)
        except RestError as exc:
            return _auth_error(AuthError(exc.status, "bad_jwt", exc.message))

    async def _token(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        grant = request.query_params.get("grant_type")
        try:
            self._caller(request)
            if grant == "password":
                user = await run_in_threadpool(
                    self._check_password,
                    str(body.get("email") or ""),
                    str(body.get("password") or ""),
                )
                return JSONResponse(await run_in_threadpool(self._new_session, user, None))
            if grant == "refresh_token":
                return JSONResponse(
                    await run_in_threadpool(self._refresh, str(body.get("refresh_token") or ""))
                )
            raise AuthError(400, "validation_failed", "unsupported_grant_type")
        except AuthError as exc:
            return _auth_error(exc)
        except RestError as exc:
            return _auth_error(AuthError(exc.status, "bad_jwt", exc.message))

    async def _user(self, request: Request) -> Response:
        await self._record(request)
        try:
            claims = self._user_claims(request)
            user = await run_in_threadpool(self._load_user, claims["sub"])
            if user is None:
                raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
            return JSONResponse(_user_json(user))
        except AuthError as exc:
            return _auth_error(exc)

    async def _logout(self, request: Request) -> Response:
        await self._record(request)
        scope = request.query_params.get("scope", "global")
        try:
            claims = self._user_claims(request)
            await run_in_threadpool(self._revoke, claims, scope)
            return Response(status_code=204)
        except AuthError as exc:
            return _auth_error(exc)

    def _require_service(self, request: Request) -> None:
        try:
            caller = self._caller(request)
        except RestError as exc:
            raise AuthError(403, "bad_jwt", exc.message) from exc
        if caller.role != "service_role":
            raise AuthError(403, "not_admin", "User not allowed")

    async def _admin_create_user(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        try:
            self._require_service(request)
            email = str(body.get("email") or "").strip().lower()
            password = str(body.get("password") or "")
            if not _EMAIL.match(email):
                raise AuthError(400, "validation_failed", "Unable to validate email address")
            user = await run_in_threadpool(
                self._create_user, email, password, bool(body.get("email_confirm"))
            )
            return JSONResponse(_user_json(user))
        except AuthError as exc:
            return _auth_error(exc)

    async def _admin_delete_user(self, request: Request) -> Response:
        await self._record(request)
        try:
            self._require_service(request)
            user_id = request.path_params["user_id"]
            deleted = await run_in_threadpool(
                self._admin,
                lambda c: c.execute(
                    "delete from auth.users where id::text = %s returning id", [user_id]
                ).fetchone(),
            )
            if deleted is None:
                raise AuthError(404, "user_not_found", "User not found")
            return JSONResponse({})
        except AuthError as exc:
            return _auth_error(exc)

    def _user_claims(self, request: Request) -> dict[str, Any]:
        try:
            caller = self._caller(request)
        except RestError as exc:
            raise AuthError(403, "bad_jwt", exc.message) from exc
        if caller.role != "authenticated" or "sub" not in caller.claims:
            raise AuthError(403, "no_authorization", "This endpoint requires a valid user JWT")
        return caller.claims

    def _admin(self, fn: Any, *args: Any) -> Any:
        # GoTrue works on its own tables with its own (privileged) role.
        with self.cluster.connect() as conn:
            conn.row_factory = psycopg.rows.dict_row
            with conn.transaction():
                return fn(conn, *args)

    def _create_user(
        self, email: str, password: str, confirmed: bool | None = None
    ) -> dict[str, Any]:
        confirmed = self.autoconfirm if confirmed is None else confirmed

        def insert(conn: psycopg.Connection) -> dict[str, Any]:
            if conn.execute("select 1 from auth.users where lower(email) = %s", [email]).fetchone():
                raise AuthError(422, "user_already_exists", "User already registered")
            return conn.execute(
                "insert into auth.users (email, encrypted_password, email_confirmed_at) "
                "values (%s, extensions.crypt(%s, extensions.gen_salt('bf', 4)), "
                "case when %s then now() end) returning *",
                [email, password, confirmed],
            ).fetchone()

        return self._admin(insert)

    def _check_password(self, email: str, password: str) -> dict[str, Any]:
        user = self._admin(
            lambda c: c.execute(
                "select * from auth.users where lower(email) = lower(%s) "
                "and encrypted_password = extensions.crypt(%s, encrypted_password)",
                [email.strip(), password],
            ).fetchone()
        )
        if user is None:
            raise AuthError(400, "invalid_credentials", "Invalid login credentials")
        if user["email_confirmed_at"] is None:
            raise AuthError(400, "email_not_confirmed", "Email not confirmed")
        return user

    def _load_user(self, user_id: str) -> dict[str, Any] | None:
        return self._admin(
            lambda c: c.execute("select * from auth.users where id = %s", [user_id]).fetchone()
        )

    def _new_session(self, user: dict[str, Any], session_id: str | None) -> dict[str, Any]:
        session_id = session_id or str(uuid.uuid4())
        refresh = secrets.token_urlsafe(24)
        self._admin(
            lambda c: c.execute(
                "insert into auth.refresh_tokens (token, user_id, session_id) values (%s, %s, %s)",
                [refresh, user["id"], session_id],
            )
        )
        claims = {
            "aud": "authenticated",
            "iss": f"{self.url}/auth/v1",
            "sub": str(user["id"]),
            "email": user["email"],
            "phone": "",
            "app_metadata": user["raw_app_meta_data"] or {},
            "user_metadata": user["raw_user_meta_data"] or {},
            "role": "authenticated",
            "aal": "aal1",
            "session_id": session_id,
            "is_anonymous": False,
        }
        return {
            "access_token": self._sign(claims, seconds=self.access_ttl),
            "token_type": "bearer",
            "expires_in": self.access_ttl,
            "expires_at": int(time.time()) + self.access_ttl,
            "refresh_token": refresh,
            "user": _user_json(user),
        }

    def _refresh(self, token: str) -> dict[str, Any]:
        def rotate(conn: psycopg.Connection) -> dict[str, Any] | None:
            return conn.execute(
                "update auth.refresh_tokens set revoked = true "
                "where token = %s and not revoked returning user_id, session_id",
                [token],
            ).fetchone()

        row = self._admin(rotate)
        user = self._load_user(row["user_id"]) if row else None
        if row is None or user is None:
            raise AuthError(
                400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found"
            )
        return self._new_session(user, str(row["session_id"]))

    def _revoke(self, claims: dict[str, Any], scope: str) -> None:
        if scope == "global":
            sql_text = "update auth.refresh_tokens set revoked = true where user_id = %s"
            args = [claims["sub"]]
        else:
            sql_text = (
                "update auth.refresh_tokens set revoked = true "
                "where user_id = %s and session_id = %s"
            )
            args = [claims["sub"], claims.get("session_id")]
            if scope == "others":
                sql_text = sql_text.replace("session_id = %s", "session_id <> %s")
        self._admin(lambda c: c.execute(sql_text, args))

    # ---- Storage ---------------------------------------------------------------------------

    def _storage_caller(self, request: Request) -> Caller:
        try:
            return self._caller(request)
        except RestError as exc:
            raise StorageError(400, "Unauthorized", exc.message, "403") from exc

    def _storage_run(self, caller: Caller, fn: Any, *args: Any) -> Any:
        try:
            return self._run(caller, fn, *args)
        except RestError as exc:
            if exc.code == "42501":
                raise StorageError(
                    400, "Unauthorized", "new row violates row-level security policy", "403"
                ) from exc
            raise StorageError(400, "InternalError", exc.message, "500") from exc

    def _file(self, bucket: str, name: str) -> Path:
        parts = name.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise StorageError(400, "InvalidKey", f"Invalid key: {name}")
        return self.files.joinpath(bucket, *parts)

    @staticmethod
    def _visible(conn: psycopg.Connection, bucket: str, names: list[str]) -> dict[str, Any]:
        rows = conn.execute(
            "select name, metadata, id, created_at, updated_at from storage.objects "
            "where bucket_id = %s and name = any(%s)",
            [bucket, names],
        ).fetchall()
        return {r[0]: r for r in rows}

    async def _object(self, request: Request) -> Response:
        await self._record(request)
        bucket, name = request.path_params["bucket"], request.path_params["path"]
        try:
            caller = self._storage_caller(request)
            path = self._file(bucket, name)
            if request.method == "GET":
                found = await run_in_threadpool(
                    self._storage_run, caller, lambda c: self._visible(c, bucket, [name])
                )
                if name not in found or not path.is_file():
                    raise StorageError(400, "not_found", "Object not found", "404")
                meta = found[name][1] or {}
                return Response(path.read_bytes(), media_type=meta.get("mimetype"))
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise StorageError(400, "InvalidRequest", "No file in the upload")
            data = await upload.read()
            mime = upload.content_type or "application/octet-stream"
            upsert = request.headers.get("x-upsert", "false").lower() == "true"
            meta = {
                "size": len(data),
                "mimetype": mime,
                "cacheControl": f"max-age={form.get('cacheControl') or 3600}",
                "eTag": hashlib.md5(data).hexdigest(),
            }

            def store(conn: psycopg.Connection) -> str:
                bucket_row = conn.execute(
                    "select file_size_limit, allowed_mime_types from storage.buckets where id = %s",
                    [bucket],
                ).fetchone()
                if bucket_row is None:
                    raise StorageError(400, "Bucket not found", "Bucket not found", "404")
                limit, mimes = bucket_row
                if limit is not None and len(data) > limit:
                    raise StorageError(
                        400,
                        "Payload too large",
                        "The object exceeded the maximum allowed size",
                        "413",
                    )
                if mimes and mime not in mimes:
                    raise StorageError(
                        400, "invalid_mime_type", f"mime type {mime} is not supported", "415"
                    )
                conflict = (
                    "do update set metadata = excluded.metadata, updated_at = now(), "
                    "owner = excluded.owner"
                    if upsert
                    else "do nothing"
                )
                row = conn.execute(
                    "insert into storage.objects (bucket_id, name, owner, owner_id, metadata) "
                    "values (%s, %s, %s, %s, %s) on conflict (bucket_id, name) "
                    + conflict
                    + " returning id",
                    [
                        bucket,
                        name,
                        caller.claims.get("sub"),
                        caller.claims.get("sub"),
                        json.dumps(meta),
                    ],
                ).fetchone()
                if row is None:
                    raise StorageError(400, "Duplicate", "The resource already exists", "409")
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(path.name + f".{uuid.uuid4().hex}.tmp")
                tmp.write_bytes(data)
                tmp.replace(path)
                return str(row[0])

            object_id = await run_in_threadpool(self._storage_run, caller, store)
            return JSONResponse({"Key": f"{bucket}/{name}", "Id": object_id})
        except StorageError as exc:
            return _storage_error(exc)

    async def _info(self, request: Request) -> Response:
        await self._record(request)
        bucket, name = request.path_params["bucket"], request.path_params["path"]
        try:
            caller = self._storage_caller(request)
            found = await run_in_threadpool(
                self._storage_run, caller, lambda c: self._visible(c, bucket, [name])
            )
            if name not in found:
                raise StorageError(404, "not_found", "Object not found", "404")
            _, meta, object_id, created, updated = found[name]
            meta = meta or {}
            return JSONResponse(
                {
                    "id": str(object_id),
                    "name": name,
                    "bucket_id": bucket,
                    "size": meta.get("size"),
                    "content_type": meta.get("mimetype"),
                    "cache_control": meta.get("cacheControl"),
                    "etag": meta.get("eTag"),
                    "metadata": {},
                    "created_at": created.isoformat(),
                    "last_modified": updated.isoformat(),
                }
            )
        except StorageError as exc:
            return _storage_error(exc)

    def _signed_path(self, bucket: str, name: str, expires_in: int) -> str:
        token = self._sign({"url": f"{bucket}/{name}"}, seconds=expires_in)
        return f"/object/sign/{bucket}/{name}?token={token}"

    async def _sign_or_serve(self, request: Request) -> Response:
        body = await self._record(request)
        bucket, name = request.path_params["bucket"], request.path_params["path"]
        try:
            if request.method == "GET":
                return self._serve_signed(request, bucket, name)
            caller = self._storage_caller(request)
            expires_in = int(json.loads(body or b"{}").get("expiresIn", 60))
            found = await run_in_threadpool(
                self._storage_run, caller, lambda c: self._visible(c, bucket, [name])
            )
            if name not in found:
                raise StorageError(400, "not_found", "Object not found", "404")
            return JSONResponse({"signedURL": self._signed_path(bucket, name, expires_in)})
        except StorageError as exc:
            return _storage_error(exc)

    async def _sign_many(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        bucket = request.path_params["bucket"]
        try:
            caller = self._storage_caller(request)
            paths = [str(p) for p in body.get("paths") or []]
            expires_in = int(body.get("expiresIn", 60))
            found = await run_in_threadpool(
                self._storage_run, caller, lambda c: self._visible(c, bucket, paths)
            )
            out = []
            for path in paths:
                if path in found:
                    out.append(
                        {
                            "error": None,
                            "path": path,
                            "signedURL": self._signed_path(bucket, path, expires_in),
                        }
                    )
                else:
                    out.append(
                        {
                            "error": "Either the object does not exist or you do not have "
                            "access to it",
                            "path": path,
                            "signedURL": None,
                        }
                    )
            return JSONResponse(out)
        except StorageError as exc:
            return _storage_error(exc)

    def _serve_signed(self, request: Request, bucket: str, name: str) -> Response:
        token = request.query_params.get("token", "")
        try:
            claims = self._decode(token)
        except jwt.InvalidTokenError as exc:
            raise StorageError(400, "InvalidSignature", f"Invalid token: {exc}", "400") from exc
        if claims.get("url") != f"{bucket}/{name}":
            raise StorageError(400, "InvalidSignature", "The url does not match the token", "400")
        path = self._file(bucket, name)
        if not path.is_file():
            raise StorageError(400, "not_found", "Object not found", "404")
        return Response(path.read_bytes(), headers={"cache-control": "max-age=3600"})

    async def _remove(self, request: Request) -> Response:
        body = json.loads(await self._record(request) or b"{}")
        bucket = request.path_params["bucket"]
        try:
            caller = self._storage_caller(request)
            names = [str(p) for p in body.get("prefixes") or []]
            files = [self._file(bucket, n) for n in names]

            def delete(conn: psycopg.Connection) -> list[dict[str, Any]]:
                rows = conn.execute(
                    "with w as (delete from storage.objects where bucket_id = %s "
                    "and name = any(%s) returning *) "
                    "select coalesce(json_agg(w), '[]'::json) from w",
                    [bucket, names],
                ).fetchone()[0]
                gone = {r["name"] for r in rows}
                for name, path in zip(names, files, strict=True):
                    if name in gone:
                        path.unlink(missing_ok=True)
                return rows

            return JSONResponse(await run_in_threadpool(self._storage_run, caller, delete))
        except StorageError as exc:
            return _storage_error(exc)


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


def _user_json(user: dict[str, Any]) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": str(user["id"]),
        "aud": "authenticated",
        "role": "authenticated",
        "email": user["email"],
        "phone": "",
        "email_confirmed_at": iso(user["email_confirmed_at"]),
        "confirmed_at": iso(user["email_confirmed_at"]),
        "app_metadata": user["raw_app_meta_data"] or {},
        "user_metadata": user["raw_user_meta_data"] or {},
        "identities": [],
        "created_at": iso(user["created_at"]),
        "updated_at": iso(user["updated_at"]),
        "is_anonymous": False,
    }


def _auth_error(exc: AuthError) -> Response:
    return JSONResponse(
        {"code": exc.status, "error_code": exc.error_code, "msg": exc.msg},
        status_code=exc.status,
    )


def _storage_error(exc: StorageError) -> Response:
    return JSONResponse(
        {"statusCode": exc.code, "error": exc.error, "message": exc.message},
        status_code=exc.status,
    )


_lock = threading.Lock()
_shared: Gateway | None = None


def shared_gateway(cluster: PgCluster, files: Path) -> Gateway:
    """The test process's gateway on `cluster`, started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Gateway(cluster, files).start()
        return _shared
