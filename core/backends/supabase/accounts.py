"""Supabase accounts: sign-up, sign-in and sign-out with Supabase Auth; profiles, browser sessions
and API tokens in the tables of `supabase-schema.sql` (service role). The browser cookie holds an
opaque random token; its sha256 maps to the Supabase refresh token stored server-side, so the
refresh token never reaches the browser. API bearers are our `ist_` tokens or Supabase access
tokens, which Supabase Auth verifies (never decoded here). Tokens and keys are never logged."""

from __future__ import annotations

import logging
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase_auth.errors import AuthApiError, AuthError
from supabase_auth.types import Session

from core.backends.common import digest
from core.backends.supabase.client import (
    Clients,
    call_rpc,
    parse_time,
    raise_api_error,
    rows_of,
    user_from_profile,
)
from core.domain.errors import (
    AccountDisabled,
    Conflict,
    InvalidCredentials,
    NotFound,
    RateLimited,
    ValidationError,
)
from core.domain.models import ApiToken, Role, SessionInfo, User
from core.domain.policy import (
    API_TOKEN_PREFIX,
    DELETE_WHILE_GENERATING,
    MAX_PASSWORD,
    SESSION_SECONDS,
    SESSION_TOUCH_SECONDS,
    check_email,
    check_password,
    clean_user_agent,
    email_taken,
    invalid_email,
    last_admin_not_deleted,
    last_admin_refused,
    normalize_email,
    reset_link_invalid,
    session_required,
    sign_in_locked,
    wrong_current_password,
)
from core.domain.settings import Settings
from core.ports import SignedIn

log = logging.getLogger(__name__)

# Refresh the user's JWT when it has less than this left, so calls made with it still succeed.
REFRESH_MARGIN = timedelta(seconds=60)
# header.payload.signature, base64url: what a Supabase access token looks like
_JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_EXISTS_CODES = {"user_already_exists", "email_exists"}
_RATE_CODES = {"over_request_rate_limit", "over_email_send_rate_limit"}
LAST_ADMIN_CODE = "SL409"  # raised by keep_an_admin() in supabase-schema.sql


class SupabaseAccounts:
    """Accounts on Supabase Auth (see core.ports.Accounts)."""

    def __init__(self, clients: Clients) -> None:
        self._clients = clients
        self._db = clients.service
        self._admins_published: frozenset[str] | None = None
        self._lock = threading.Lock()

    # ---- server settings -------------------------------------------------------------------

    def publish_config(self, settings: Settings) -> None:
        """Write the settings the SQL side reads (admin emails, limits) to app_config."""
        row = {
            "id": True,
            "admin_emails": sorted(settings.admin_emails),
            "rate_limit_per_minute": settings.rate_limit_per_minute,
            "daily_quota": settings.daily_quota,
            # a user's own submit_jobs call takes this, not the caller's value
            "max_attempts": min(max(int(settings.max_attempts), 1), 100),
            "updated_at": datetime.now(UTC).isoformat(),
        }
        try:
            self._db.table("app_config").upsert(row).execute()
        except (APIError, httpx.HTTPError) as exc:
            log.warning("could not publish settings to Supabase app_config: %s", type(exc).__name__)
            return
        self._admins_published = frozenset(settings.admin_emails)

    def _publish_admins(self, admin_emails: frozenset[str]) -> None:
        admins = frozenset(e.strip().lower() for e in admin_emails if e.strip())
        if admins == self._admins_published:
            return
        try:
            self._db.table("app_config").update({"admin_emails": sorted(admins)}).eq(
                "id", True
            ).execute()
        except APIError as exc:
            raise_api_error(exc)
        self._admins_published = admins

    # ---- sign up / in / out ----------------------------------------------------------------

    def sign_up(
        self,
        email: str,
        password: str,
        *,
        admin_emails: frozenset[str],
        user_agent: str | None = None,
    ) -> SignedIn:
        email = check_email(email)
        check_password(password)
        self._publish_admins(admin_emails)
        client = self._clients.auth()
        try:
            response = client.auth.sign_up({"email": email, "password": password})
        except AuthApiError as exc:
            code = str(exc.code or "")
            if code in _EXISTS_CODES:
                raise email_taken() from None
            if code in _RATE_CODES or exc.status == 429:
                raise RateLimited(
                    "Too many sign-ups right now. Try again in a minute.",
                    60,
                    reason="too_many_sign_ups",
                ) from None
            if code == "weak_password":
                raise ValidationError(
                    "Choose a stronger password.", reason="weak_password"
                ) from None
            if code == "signup_disabled":
                raise ValidationError(
                    "Sign-ups are disabled for this project.", reason="sign_ups_disabled"
                ) from None
            raise invalid_email() from None
        except AuthError as exc:
            raise ValidationError(
                f"Sign-up failed ({type(exc).__name__}).",
                reason="sign_up_failed",
                params={"detail": type(exc).__name__},
            ) from None
        if response.session is None:
            # The project confirms emails first (or the email is taken: Supabase does not say).
            raise ValidationError(
                "Check your inbox to confirm your email address, then sign in.",
                reason="confirm_email",
            )
        return self._start_session(response.session, user_agent=user_agent)

    def sign_in(self, email: str, password: str, *, user_agent: str | None = None) -> SignedIn:
        email = normalize_email(email)
        if not email or not isinstance(password, str) or not password:
            raise InvalidCredentials()
        if len(password) > MAX_PASSWORD:
            raise InvalidCredentials()
        attempt = self._begin_attempt(email)  # RateLimited while the email is locked
        client = self._clients.auth()
        try:
            response = client.auth.sign_in_with_password({"email": email, "password": password})
        except AuthApiError as exc:
            code = str(exc.code or "")
            if code in _RATE_CODES or exc.status == 429:
                raise RateLimited(
                    "Too many sign-in attempts. Try again in a few minutes.",
                    retry_after=300,
                    reason="too_many_attempts",
                ) from None
            if code == "user_banned":
                raise AccountDisabled() from None
            self._end_attempt(email, attempt, ok=False)
            raise InvalidCredentials() from None
        if response.session is None:
            raise InvalidCredentials()
        self._end_attempt(email, attempt, ok=True)
        profile = self._profile(response.session.user.id)
        if profile is not None and profile.get("disabled"):
            self._revoke_remote(response.session.access_token)
            raise AccountDisabled()
        return self._start_session(response.session, profile, user_agent=user_agent)

    def resolve_session(self, session_token: str) -> User | None:
        if not isinstance(session_token, str) or not session_token:
            return None
        token_hash = digest(session_token)
        row, profile = self._session_and_profile(token_hash)
        if row is None:
            return None
        now = datetime.now(UTC)
        created = parse_time(row["created_at"]) or now
        if now - created > timedelta(seconds=SESSION_SECONDS):
            self._delete_session(token_hash)
            return None
        access = row.get("access_token")
        expires = parse_time(row.get("access_expires_at"))
        if not access or expires is None or expires - now < REFRESH_MARGIN:
            access = self._refresh(token_hash, row)
            if access is None:
                return None
        if profile is None or profile.get("disabled"):
            return None
        self._touch_session(token_hash, row, now)
        return user_from_profile(profile, access)

    def sign_out(self, session_token: str) -> None:
        if not isinstance(session_token, str) or not session_token:
            return
        try:
            rows = rows_of(
                self._db.table("sessions")
                .delete()
                .eq("token_hash", digest(session_token))
                .execute()
                .data
            )
        except APIError as exc:
            raise_api_error(exc)
        self._revoke_rows(rows)

    def _revoke_rows(self, rows: list[dict[str, Any]]) -> None:
        """End at Supabase Auth the sessions of deleted `sessions` rows (best effort)."""
        for row in rows:
            access = row.get("access_token")
            expires = parse_time(row.get("access_expires_at"))
            if access and expires and expires - datetime.now(UTC) > REFRESH_MARGIN:
                self._revoke_remote(access)
            else:
                # An expired JWT cannot sign out: trade the refresh token for a fresh one first.
                try:
                    fresh = self._clients.auth().auth.refresh_session(row["refresh_token"])
                except (AuthError, httpx.HTTPError):
                    continue
                if fresh.session is not None:
                    self._revoke_remote(fresh.session.access_token)

    # ---- users -----------------------------------------------------------------------------

    def get_user(self, user_id: str) -> User | None:
        profile = self._profile(user_id)
        return None if profile is None else user_from_profile(profile)

    def find_user_by_email(self, email: str) -> User | None:
        email = normalize_email(email)
        if not email:
            return None
        rows = self._select("profiles", lambda q: q.eq("email", email).limit(1))
        return user_from_profile(rows[0]) if rows else None

    def list_users(self) -> list[User]:
        rows = self._select("profiles", lambda q: q.order("created_at").order("email"))
        return [user_from_profile(r) for r in rows]

    def set_role(self, user_id: str, role: Role) -> None:
        role = Role(role)
        self._update_profile(user_id, {"role": role.value})

    def set_disabled(self, user_id: str, disabled: bool) -> None:
        self._update_profile(user_id, {"disabled": bool(disabled)})
        if disabled:
            try:
                self._db.table("sessions").delete().eq("user_id", user_id).execute()
            except APIError as exc:
                raise_api_error(exc)
            self._update("api_tokens", {"revoked": True}, "user_id", user_id)

    # ---- API tokens ------------------------------------------------------------------------

    def create_api_token(self, user_id: str, name: str) -> tuple[ApiToken, str]:
        profile = self._profile(user_id)
        if profile is None:
            raise NotFound("No such user.", reason="user_not_found")
        if profile.get("disabled"):
            raise AccountDisabled()
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            row = rows_of(
                self._db.table("api_tokens")
                .insert({"user_id": user_id, "name": name, "token_hash": digest(secret)})
                .execute()
                .data
            )[0]
        except APIError as exc:
            raise_api_error(exc)
        return _token(row), secret

    def resolve_api_token(self, secret: str) -> User | None:
        """A personal `ist_` token, or a Supabase access token that Supabase Auth accepts."""
        if not isinstance(secret, str):
            return None
        if not secret.startswith(API_TOKEN_PREFIX):
            return self._resolve_access_token(secret) if _JWT_SHAPE.fullmatch(secret) else None
        try:
            rows = rows_of(
                self._db.rpc("use_api_token", {"p_token_hash": digest(secret)}).execute().data
            )
        except APIError as exc:
            raise_api_error(exc)
        return user_from_profile(rows[0]) if rows else None

    def list_api_tokens(self, user_id: str) -> list[ApiToken]:
        rows = self._select("api_tokens", lambda q: q.eq("user_id", user_id).order("created_at"))
        return [_token(r) for r in rows]

    def revoke_api_token(self, user_id: str, token_id: str) -> bool:
        try:
            rows = rows_of(
                self._db.table("api_tokens")
                .update({"revoked": True})
                .eq("id", token_id)
                .eq("user_id", user_id)
                .eq("revoked", False)
                .execute()
                .data
            )
        except APIError as exc:
            if exc.code == "22P02":  # not a uuid: no such token
                return False
            raise_api_error(exc)
        return len(rows) == 1

    # ---- sessions and password (issue #16) -------------------------------------------------

    def list_sessions(self, user_id: str, current_token: str | None) -> list[SessionInfo]:
        current = digest(current_token) if isinstance(current_token, str) else None
        since = datetime.now(UTC) - timedelta(seconds=SESSION_SECONDS)
        rows = self._select(
            "sessions",
            lambda q: (
                q.eq("user_id", user_id)
                .gt("created_at", since.isoformat())
                .order("created_at", desc=True)
                .order("id")
            ),
        )
        return [
            SessionInfo(
                id=str(r["id"]),
                created_at=parse_time(r["created_at"]),  # type: ignore[arg-type]
                last_seen_at=parse_time(r.get("last_seen_at")),
                user_agent=r.get("user_agent"),
                current=r["token_hash"] == current,
            )
            for r in rows
        ]

    def revoke_session(self, user_id: str, session_id: str) -> bool:
        if not isinstance(session_id, str) or not session_id:
            return False
        try:
            rows = rows_of(
                self._db.table("sessions")
                .delete()
                .eq("user_id", user_id)
                .eq("id", session_id)
                .execute()
                .data
            )
        except APIError as exc:
            if exc.code == "22P02":  # not a uuid: no such session
                return False
            raise_api_error(exc)
        self._revoke_rows(rows)
        return len(rows) == 1

    def revoke_other_sessions(self, user_id: str, current_token: str) -> int:
        current = self._require_live_session(user_id, current_token)
        return len(self._delete_other_sessions(user_id, str(current["token_hash"])))

    def change_password(
        self, user_id: str, current_token: str, current_password: str, new_password: str
    ) -> None:
        profile = self._profile(user_id)
        if profile is None:
            raise NotFound("No such user.", reason="user_not_found")
        current = self._require_live_session(user_id, current_token)
        check_password(new_password)
        email = normalize_email(str(profile.get("email") or ""))
        if not isinstance(current_password, str) or not 0 < len(current_password) <= MAX_PASSWORD:
            raise wrong_current_password()
        attempt = self._begin_attempt(email)  # RateLimited while the email is locked
        # Supabase Auth checks the current password: a sign-in, whose session ends at once.
        try:
            check = self._clients.auth().auth.sign_in_with_password(
                {"email": email, "password": current_password}
            )
        except AuthApiError as exc:
            if str(exc.code or "") in _RATE_CODES or exc.status == 429:
                raise RateLimited(
                    "Too many attempts. Try again in a few minutes.",
                    retry_after=300,
                    reason="too_many_attempts",
                ) from None
            self._end_attempt(email, attempt, ok=False)
            raise wrong_current_password() from None
        if check.session is None or check.session.user.id != user_id:
            self._end_attempt(email, attempt, ok=False)
            raise wrong_current_password()
        self._end_attempt(email, attempt, ok=True)
        self._revoke_remote(check.session.access_token)
        try:
            self._db.auth.admin.update_user_by_id(user_id, {"password": new_password})
        except AuthApiError as exc:
            if str(exc.code or "") == "weak_password":
                raise ValidationError(
                    "Choose a stronger password.", reason="weak_password"
                ) from None
            raise ValidationError(
                f"The password could not be changed ({_auth_error_name(exc)}).",
                reason="password_not_changed",
                params={"detail": _auth_error_name(exc)},
            ) from None
        self._delete_other_sessions(user_id, str(current["token_hash"]))
        # Sessions of this user at Supabase Auth that no row here knows end too.
        access = current.get("access_token")
        expires = parse_time(current.get("access_expires_at"))
        if not access or expires is None or expires - datetime.now(UTC) < REFRESH_MARGIN:
            access = self._refresh(str(current["token_hash"]), current)
        if access:
            try:
                self._clients.auth().auth.admin.sign_out(access, "others")
            except (AuthError, httpx.HTTPError) as exc:
                log.warning("Supabase sign-out of other sessions failed: %s", type(exc).__name__)

    def _require_live_session(self, user_id: str, session_token: str) -> dict[str, Any]:
        """The `sessions` row of `session_token` if it is a live session of the user; else
        AuthRequired."""
        if not isinstance(session_token, str) or not session_token:
            raise session_required()
        row = self._session_row(digest(session_token))
        if row is None or str(row["user_id"]) != user_id:
            raise session_required()
        created = parse_time(row["created_at"])
        if created is None or datetime.now(UTC) - created > timedelta(seconds=SESSION_SECONDS):
            raise session_required()
        return row

    def _delete_other_sessions(self, user_id: str, keep_hash: str) -> list[dict[str, Any]]:
        try:
            rows = rows_of(
                self._db.table("sessions")
                .delete()
                .eq("user_id", user_id)
                .neq("token_hash", keep_hash)
                .execute()
                .data
            )
        except APIError as exc:
            raise_api_error(exc)
        self._revoke_rows(rows)
        return rows

    def _touch_session(self, token_hash: str, row: dict[str, Any], now: datetime) -> None:
        """Record a session's visit at most once per SESSION_TOUCH_SECONDS, best effort."""
        seen = parse_time(row.get("last_seen_at"))
        stale = now - timedelta(seconds=SESSION_TOUCH_SECONDS)
        if seen is not None and seen > stale:
            return
        try:
            self._db.table("sessions").update({"last_seen_at": now.isoformat()}).eq(
                "token_hash", token_hash
            ).lt("last_seen_at", stale.isoformat()).execute()
        except (APIError, httpx.HTTPError) as exc:
            log.warning("could not record a session's last visit: %s", type(exc).__name__)

    def _resolve_access_token(self, jwt: str) -> User | None:
        """The user of a Supabase access token, asked of Supabase Auth (GET /auth/v1/user checks
        the signature, the expiry and that the session still exists; nothing here decodes the
        token). Refused, disabled or anonymous: None. Auth unreachable: None, with a warning."""
        try:
            response = self._clients.auth().auth.get_user(jwt)
        except AuthApiError as exc:
            if exc.status == 429 or exc.status >= 500:
                log.warning(
                    "Supabase Auth could not check an access token: %s", _auth_error_name(exc)
                )
            return None
        except (AuthError, httpx.HTTPError, ValueError) as exc:
            # AuthRetryableError (network, 502-504), AuthUnknownError (a non-JSON answer), or a
            # body that is not a user
            log.warning("Supabase Auth could not check an access token: %s", _auth_error_name(exc))
            return None
        auth_user = None if response is None else response.user
        if auth_user is None or not auth_user.id or auth_user.is_anonymous:
            return None
        profile = self._profile(auth_user.id)
        if profile is None or profile.get("disabled"):
            return None
        return user_from_profile(profile, jwt)

    # ---- deleting an account ---------------------------------------------------------------

    def delete_user(self, user_id: str) -> None:
        """The rows in one transaction (delete_account_rows: guarded against removing the
        last admin), then the Auth user with the service role; its cascade takes the rest."""
        try:
            self._db.rpc("delete_account_rows", {"p_user_id": user_id}).execute()
        except APIError as exc:
            if exc.code == LAST_ADMIN_CODE:
                raise last_admin_not_deleted() from None
            if exc.code == "SB409":
                raise Conflict(DELETE_WHILE_GENERATING, reason="delete_while_generating") from None
            if exc.code in ("SN404", "22P02"):
                raise NotFound("No such user.", reason="user_not_found") from None
            raise_api_error(exc)
        try:
            self._db.auth.admin.delete_user(user_id)
        except AuthApiError as exc:
            if exc.status != 404:
                # The account's rows are gone and it cannot sign in to the studio; the Auth
                # user is left for the operator. Logged without any secret.
                log.error("could not delete Auth user %s: %s", user_id, _auth_error_name(exc))
                raise Conflict(
                    "The account's data is deleted, but its sign-in could not be removed; "
                    "try again.",
                    reason="sign_in_not_removed",
                ) from None

    # ---- helpers ---------------------------------------------------------------------------

    def _start_session(
        self,
        session: Session,
        profile: dict[str, Any] | None = None,
        *,
        user_agent: str | None = None,
    ) -> SignedIn:
        user_id = session.user.id
        if profile is None:
            profile = self._profile(user_id)
        if profile is None:
            # Accounts made before the schema's trigger existed get a plain profile.
            profile = rows_of(
                self._db.table("profiles")
                .upsert({"id": user_id, "email": normalize_email(session.user.email or "")})
                .execute()
                .data
            )[0]
        token = secrets.token_urlsafe(32)
        try:
            self._db.table("sessions").insert(
                {
                    "token_hash": digest(token),
                    "user_id": user_id,
                    "refresh_token": session.refresh_token,
                    "access_token": session.access_token,
                    "access_expires_at": _expiry(session).isoformat(),
                    "user_agent": clean_user_agent(user_agent),
                }
            ).execute()
        except APIError as exc:
            raise_api_error(exc)
        return SignedIn(user=user_from_profile(profile, session.access_token), session_token=token)

    def _refresh(self, token_hash: str, row: dict[str, Any]) -> str | None:
        """A fresh JWT for the session. Supabase refusing the refresh token ends the session;
        an Auth hiccup (rate limit, 5xx, network) keeps it: the current JWT serves while still
        valid, else this request is signed out and a later one refreshes."""
        try:
            response = self._clients.auth().auth.refresh_session(row["refresh_token"])
        except AuthError as exc:
            if _is_invalid_grant(exc):
                self._delete_session(token_hash)
                return None
            log.warning("Supabase session refresh failed: %s", _auth_error_name(exc))
            access = row.get("access_token")
            expires = parse_time(row.get("access_expires_at"))
            if access and expires is not None and expires > datetime.now(UTC):
                return access
            return None
        session = response.session
        if session is None:
            self._delete_session(token_hash)
            return None
        try:
            updated = rows_of(
                self._db.table("sessions")
                .update(
                    {
                        "refresh_token": session.refresh_token,
                        "access_token": session.access_token,
                        "access_expires_at": _expiry(session).isoformat(),
                        "last_seen_at": datetime.now(UTC).isoformat(),
                    }
                )
                .eq("token_hash", token_hash)
                .eq("refresh_token", row["refresh_token"])
                .execute()
                .data
            )
        except APIError as exc:
            raise_api_error(exc)
        if updated:
            return session.access_token
        # Another process refreshed this session first (or it was signed out): use its result.
        current = self._session_row(token_hash)
        return None if current is None else current.get("access_token")

    def _revoke_remote(self, access_token: str) -> None:
        """End this session at Supabase Auth too (its refresh token stops working)."""
        try:
            self._clients.auth().auth.admin.sign_out(access_token, "local")
        except (AuthError, httpx.HTTPError) as exc:
            log.warning("Supabase sign-out failed: %s", type(exc).__name__)

    def _begin_attempt(self, email: str) -> str:
        """Record a sign-in attempt as a failure before Supabase Auth checks the password, in the
        same locked step that checks the lockout (begin_sign_in in supabase-schema.sql); returns
        its id. RateLimited, nothing recorded, while the email is locked."""
        answer = self._rpc("begin_sign_in", {"p_email": email}) or {}
        wait = int(answer.get("retry_after") or 0)
        if wait > 0:
            raise sign_in_locked(wait)
        return str(answer["attempt"])

    def _end_attempt(self, email: str, attempt: str, *, ok: bool) -> None:
        """A wrong password keeps the attempt counted; the right one forgives it and the
        failures before it, unless others tried since (end_sign_in in supabase-schema.sql)."""
        self._rpc("end_sign_in", {"p_email": email, "p_attempt": attempt, "p_ok": ok})

    def _rpc(self, fn: str, params: dict[str, Any]) -> Any:
        return call_rpc(self._db, fn, params)

    def _session_row(self, token_hash: str) -> dict[str, Any] | None:
        rows = self._select("sessions", lambda q: q.eq("token_hash", token_hash).limit(1))
        return rows[0] if rows else None

    def _session_and_profile(
        self, token_hash: str
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """A session row and its user's profile in one round trip (every page run checks the
        session: this is the request the studio makes most)."""
        found = call_rpc(self._db, "session_with_profile", {"p_token_hash": token_hash})
        if isinstance(found, list):  # PostgREST answers a scalar function with the value
            found = found[0] if found else None
        if not isinstance(found, dict) or not isinstance(found.get("session"), dict):
            return None, None
        profile = found.get("profile")
        return found["session"], profile if isinstance(profile, dict) else None

    def _delete_session(self, token_hash: str) -> None:
        try:
            self._db.table("sessions").delete().eq("token_hash", token_hash).execute()
        except APIError as exc:
            raise_api_error(exc)

    def _profile(self, user_id: str) -> dict[str, Any] | None:
        try:
            rows = rows_of(
                self._db.table("profiles").select("*").eq("id", user_id).limit(1).execute().data
            )
        except APIError as exc:
            if exc.code == "22P02":  # not a uuid: no such user
                return None
            raise_api_error(exc)
        return rows[0] if rows else None

    def _update_profile(self, user_id: str, values: dict[str, Any]) -> None:
        """NotFound for no such user; Conflict when the schema's keep_an_admin trigger refuses
        to leave no admin."""
        try:
            updated = self._update("profiles", values, "id", user_id)
        except APIError as exc:
            if exc.code == LAST_ADMIN_CODE:
                raise last_admin_refused() from None
            raise
        if not updated:
            raise NotFound("No such user.", reason="user_not_found")

    def _select(self, table: str, build: Any) -> list[dict[str, Any]]:
        try:
            return rows_of(build(self._db.table(table).select("*")).execute().data)
        except APIError as exc:
            if exc.code == "22P02":
                return []
            raise_api_error(exc)

    def _update(self, table: str, values: dict[str, Any], column: str, value: str) -> bool:
        try:
            rows = rows_of(self._db.table(table).update(values).eq(column, value).execute().data)
        except APIError as exc:
            if exc.code == "22P02":
                return False
            raise_api_error(exc)
        return bool(rows)

    # ---- forgot password (issue #16) -------------------------------------------------------

    def create_password_reset(
        self, user_id: str, *, created_by: str | None, ttl_seconds: float
    ) -> str:
        """Supabase Auth mails its own recovery links: the studio makes none."""
        raise ValidationError(
            "In Supabase mode reset links come by email: use “Send reset email” instead."
        )

    def reset_password(self, token: str, new_password: str) -> User:
        """Redeem a recovery link's token_hash at Supabase Auth (single use and expiry are
        Auth's), set the new password with the session it yields, then end every studio and
        Auth session of the user and lift the sign-in lockout of their email."""
        check_password(new_password)  # before the token is spent
        if not isinstance(token, str) or not token or len(token) > 200:
            raise reset_link_invalid()
        client = self._clients.auth()
        try:
            response = client.auth.verify_otp({"token_hash": token, "type": "recovery"})
        except AuthApiError:
            raise reset_link_invalid() from None
        session = response.session
        if session is None:
            raise reset_link_invalid()
        user_id = session.user.id
        profile = self._profile(user_id)
        if profile is None or profile.get("disabled"):
            self._revoke_remote(session.access_token)
            raise reset_link_invalid()
        try:
            client.auth.update_user({"password": new_password})
        except AuthApiError as exc:
            self._revoke_remote(session.access_token)
            if str(exc.code or "") == "weak_password":
                raise ValidationError(str(exc.message)) from None
            raise
        try:
            self._db.table("sessions").delete().eq("user_id", user_id).execute()
            self._db.table("sign_in_failures").delete().eq("email", profile["email"]).execute()
        except APIError as exc:
            raise_api_error(exc)
        try:
            client.auth.admin.sign_out(session.access_token, "global")
        except (AuthError, httpx.HTTPError) as exc:
            log.warning("Supabase global sign-out failed: %s", type(exc).__name__)
        return user_from_profile(profile)

    def send_password_reset_email(self, email: str, redirect_to: str) -> bool:
        """Supabase Auth mails a recovery link leading to `redirect_to`. Unknown emails and
        Auth's own refusals look the same to the caller (no account enumeration)."""
        email = check_email(email)
        try:
            self._clients.auth().auth.reset_password_for_email(email, {"redirect_to": redirect_to})
        except AuthApiError as exc:
            if str(exc.code or "") in _RATE_CODES or exc.status == 429:
                raise RateLimited(
                    "Too many reset emails. Try again in a few minutes.",
                    retry_after=300,
                    reason="too_many_reset_emails",
                ) from None
            log.warning("Supabase recovery email failed: %s", _auth_error_name(exc))
        return True

    def set_language(self, user_id: str, language: str | None) -> None:
        self._update_profile(user_id, {"language": language})


# Auth's answers meaning "this refresh token or session is gone for good"
_INVALID_GRANT_CODES = frozenset(
    {
        "refresh_token_not_found",
        "refresh_token_already_used",
        "session_not_found",
        "session_expired",
        "invalid_grant",
    }
)


def _is_invalid_grant(exc: AuthError) -> bool:
    if not isinstance(exc, AuthApiError):
        return False
    if str(exc.code or "") in _INVALID_GRANT_CODES:
        return True
    # older Auth servers answer {"error": "invalid_grant", "error_description": "Invalid
    # Refresh Token: ..."} without an error code
    message = str(exc.message or "").lower()
    return (
        exc.code is None
        and exc.status in (400, 401)
        and ("invalid refresh token" in message or "invalid_grant" in message)
    )


def _auth_error_name(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__} {status}" if status else type(exc).__name__


def _expiry(session: Session) -> datetime:
    if session.expires_at:
        return datetime.fromtimestamp(session.expires_at, UTC)
    return datetime.now(UTC) + timedelta(seconds=session.expires_in or 3600)


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        name=row["name"],
        created_at=parse_time(row["created_at"]),  # type: ignore[arg-type]
        last_used_at=parse_time(row.get("last_used_at")),
        revoked=bool(row.get("revoked")),
    )
