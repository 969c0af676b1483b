"""The Supabase Auth (GoTrue) part of the test gateway: sign-up, password and refresh-token
grants, the current user, logout by scope, and the admin create/update/delete user calls. Users
live in auth.users with bcrypt hashes (pgcrypto); refresh tokens rotate in auth.refresh_tokens;
access tokens are HS256 JWTs with the claims Supabase puts in them."""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from typing import Any

import psycopg
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tests.integration.gateway_rest import RestError
from tests.integration.pg import PgCluster

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class AuthError(Exception):
    def __init__(self, status: int, error_code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.error_code, self.msg = status, error_code, msg


class AuthRoutes:
    """Mixed into Gateway, which provides `_caller`, `_record` and `_sign`."""

    cluster: PgCluster
    url: str
    access_ttl: int
    autoconfirm: bool
    refresh_fault: tuple[int, str, str] | None
    user_fault: tuple[int, str, str] | None
    # Password recovery: the emails Auth "sent" (to, type, token_hash, redirect_to, link) for
    # tests to pick links from, and the live recovery tokens (sha256 -> user id, expiry).
    sent_emails: list[dict[str, str]]
    recovery_tokens: dict[str, tuple[str, float]]
    recovery_ttl: int

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
            if grant == "refresh_token" and self.refresh_fault is not None:
                status, text, media_type = self.refresh_fault
                return Response(text, status_code=status, media_type=media_type)
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
        if self.user_fault is not None:
            status, text, media_type = self.user_fault
            return Response(text, status_code=status, media_type=media_type)
        try:
            # as GoTrue: signature and expiry (bad_jwt), then the user, then the session
            claims = self._user_claims(request)
            user = await run_in_threadpool(self._load_user, claims["sub"])
            if user is None:
                raise AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")
            session_id = claims.get("session_id")
            if session_id and not await run_in_threadpool(self._session_alive, session_id):
                raise AuthError(
                    403, "session_not_found", "Session from session_id claim in JWT does not exist"
                )
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

    async def _recover(self, request: Request) -> Response:
        """POST /recover: mail a recovery link when the email has an account; answer 200 either
        way, as GoTrue does. The link follows Supabase's server-side template:
        {redirect_to}?token_hash=...&type=recovery."""
        body = json.loads(await self._record(request) or b"{}")
        try:
            self._caller(request)
            email = str(body.get("email") or "").strip().lower()
            if not _EMAIL.match(email):
                raise AuthError(400, "validation_failed", "Unable to validate email address")
            user = await run_in_threadpool(
                self._admin,
                lambda c: c.execute(
                    "select * from auth.users where lower(email) = %s", [email]
                ).fetchone(),
            )
            if user is not None:
                token_hash = secrets.token_hex(28)
                self.recovery_tokens[token_hash] = (
                    str(user["id"]),
                    time.time() + self.recovery_ttl,
                )
                redirect_to = request.query_params.get("redirect_to") or self.url
                sep = "&" if "?" in redirect_to else "?"
                self.sent_emails.append(
                    {
                        "to": email,
                        "type": "recovery",
                        "token_hash": token_hash,
                        "redirect_to": redirect_to,
                        "link": f"{redirect_to}{sep}token_hash={token_hash}&type=recovery",
                    }
                )
            return JSONResponse({})
        except AuthError as exc:
            return _auth_error(exc)
        except RestError as exc:
            return _auth_error(AuthError(exc.status, "bad_jwt", exc.message))

    async def _verify(self, request: Request) -> Response:
        """POST /verify with {type: recovery, token_hash}: single use, expires; a session."""
        body = json.loads(await self._record(request) or b"{}")
        try:
            self._caller(request)
            if body.get("type") != "recovery":
                raise AuthError(400, "validation_failed", "Verify requires a verification type")
            entry = self.recovery_tokens.pop(str(body.get("token_hash") or ""), None)
            user = None
            if entry is not None and entry[1] > time.time():
                user = await run_in_threadpool(self._load_user, entry[0])
            if user is None:
                raise AuthError(403, "otp_expired", "Email link is invalid or has expired")
            return JSONResponse(await run_in_threadpool(self._new_session, user, None))
        except AuthError as exc:
            return _auth_error(exc)
        except RestError as exc:
            return _auth_error(AuthError(exc.status, "bad_jwt", exc.message))

    async def _update_user(self, request: Request) -> Response:
        """PUT /user: the signed-in user changes their password (other attributes ignored)."""
        body = json.loads(await self._record(request) or b"{}")
        try:
            claims = self._user_claims(request)
            if not await run_in_threadpool(self._session_alive, str(claims.get("session_id"))):
                raise AuthError(403, "session_not_found", "Session does not exist")
            password = body.get("password")
            if password is not None and len(str(password)) < 6:
                raise AuthError(422, "weak_password", "Password should be at least 6 characters.")

            def update(conn: psycopg.Connection) -> dict[str, Any]:
                if password is not None:
                    conn.execute(
                        "update auth.users set encrypted_password = "
                        "extensions.crypt(%s, extensions.gen_salt('bf', 4)), updated_at = now() "
                        "where id = %s",
                        [str(password), claims["sub"]],
                    )
                return conn.execute(
                    "select * from auth.users where id = %s", [claims["sub"]]
                ).fetchone()

            user = await run_in_threadpool(self._admin, update)
            return JSONResponse(_user_json(user))
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

    async def _admin_update_user(self, request: Request) -> Response:
        """PUT /admin/users/{id}: as GoTrue, a new password (at least 6 characters) replaces the
        hash; the user's sessions stay (signing them out is the caller's business)."""
        body = json.loads(await self._record(request) or b"{}")
        try:
            self._require_service(request)
            user_id = request.path_params["user_id"]
            password = body.get("password")
            if password is not None and len(str(password)) < 6:
                raise AuthError(422, "weak_password", "Password should be at least 6 characters.")

            def update(conn: psycopg.Connection) -> dict[str, Any] | None:
                if password is None:
                    return conn.execute(
                        "select * from auth.users where id::text = %s", [user_id]
                    ).fetchone()
                return conn.execute(
                    "update auth.users set encrypted_password = "
                    "extensions.crypt(%s, extensions.gen_salt('bf', 4)), updated_at = now() "
                    "where id::text = %s returning *",
                    [str(password), user_id],
                ).fetchone()

            user = await run_in_threadpool(self._admin, update)
            if user is None:
                raise AuthError(404, "user_not_found", "User not found")
            return JSONResponse(_user_json(user))
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
            conn.row_factory = dict_row
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

    def _session_alive(self, session_id: str) -> bool:
        """A session lasts while one of its refresh tokens is unrevoked (logout revokes all)."""
        return bool(
            self._admin(
                lambda c: c.execute(
                    "select 1 from auth.refresh_tokens "
                    "where session_id::text = %s and not revoked limit 1",
                    [str(session_id)],
                ).fetchone()
            )
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
        "is_anonymous": bool(user.get("is_anonymous")),
    }


def _auth_error(exc: AuthError) -> Response:
    return JSONResponse(
        {"code": exc.status, "error_code": exc.error_code, "msg": exc.msg},
        status_code=exc.status,
    )
