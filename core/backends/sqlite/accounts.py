"""Local accounts: users with argon2 password hashes, browser sessions and API tokens in SQLite.
Only SHA-256 digests of session and API tokens are stored; the secrets exist in the browser
cookie or the client alone. Statements are together at the top."""

from __future__ import annotations

import logging
import math
import secrets
import sqlite3
import uuid
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.backends.common import digest
from core.backends.sqlite.db import Database, from_us, now_us, seconds_us
from core.domain.errors import (
    AccountDisabled,
    Conflict,
    InvalidCredentials,
    NotFound,
    RateLimited,
    StorageFull,
    StudioError,
)
from core.domain.models import ApiToken, Role, SessionInfo, User
from core.domain.policy import (
    API_TOKEN_PREFIX,
    DELETE_WHILE_GENERATING,
    FAILURE_WINDOW_SECONDS,
    LOCKOUT_SECONDS,
    MAX_FAILURES,
    MAX_PASSWORD,
    SESSION_REFRESH_SECONDS,
    SESSION_SECONDS,
    SESSION_TOUCH_SECONDS,
    TOKEN_TOUCH_SECONDS,
    check_email,
    check_password,
    clean_user_agent,
    email_taken,
    last_admin_not_deleted,
    last_admin_refused,
    normalize_email,
    reset_link_invalid,
    session_required,
    sign_in_locked,
    wrong_current_password,
)
from core.ports import SignedIn

log = logging.getLogger(__name__)


USER_COLUMNS = "id, email, role, disabled, daily_quota, created_at, language"
SQL_COUNT_USERS = "SELECT COUNT(*) FROM users"
SQL_USER_BY_EMAIL = f"SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = ?"
SQL_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = ?"
SQL_LIST_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY created_at, email"
SQL_INSERT_USER = (
    "INSERT INTO users (id, email, password_hash, role, disabled, created_at) "
    "VALUES (?, ?, ?, ?, 0, ?)"
)
SQL_SET_PASSWORD_HASH = "UPDATE users SET password_hash = ? WHERE id = ?"
# The last enabled admin keeps the role and stays enabled: the guard is part of the UPDATE, so
# two admins demoting each other at once cannot both succeed (SQLite has one writer at a time).
SQL_IS_LAST_ADMIN = (
    "(role = 'admin' AND disabled = 0 AND "
    "(SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0) <= 1)"
)
SQL_SET_ROLE = (
    f"UPDATE users SET role = :role WHERE id = :id AND (:role = 'admin' OR NOT {SQL_IS_LAST_ADMIN})"
)
SQL_SET_DISABLED = (
    "UPDATE users SET disabled = :disabled "
    f"WHERE id = :id AND (:disabled = 0 OR NOT {SQL_IS_LAST_ADMIN})"
)
SQL_USER_EXISTS = "SELECT 1 FROM users WHERE id = ?"
SQL_SET_LANGUAGE = "UPDATE users SET language = ? WHERE id = ?"
# Sign-in attempts: each is recorded as a failure before its password is checked (see
# _begin_attempt); a success forgives its own row and the ones before it (_forgive_failures).
SQL_RECENT_FAILURES = "SELECT COUNT(*), MAX(at) FROM sign_in_failures WHERE email = ? AND at > ?"
SQL_RECORD_FAILURE = "INSERT INTO sign_in_failures (email, at) VALUES (?, ?)"
SQL_PRUNE_FAILURES = "DELETE FROM sign_in_failures WHERE email = ? AND at <= ?"
SQL_ATTEMPT_EXISTS = "SELECT 1 FROM sign_in_failures WHERE rowid = ? AND email = ? AND at = ?"
SQL_ATTEMPTS_SINCE = (
    "SELECT 1 FROM sign_in_failures WHERE email = ? AND at >= ? AND rowid <> ? LIMIT 1"
)
SQL_FORGIVE_FAILURES = "DELETE FROM sign_in_failures WHERE email = ? AND at <= ?"
SQL_INSERT_SESSION = (
    "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, id, last_seen_at, "
    "user_agent) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
SQL_SESSION_USER = (
    f"SELECT s.expires_at AS session_expires_at, s.id AS session_id, "
    "s.last_seen_at AS session_last_seen_at, "
    f"{', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))} "
    "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?"
)
SQL_EXTEND_SESSION = "UPDATE sessions SET expires_at = ? WHERE token_hash = ?"
SQL_DELETE_SESSION = "DELETE FROM sessions WHERE token_hash = ?"
SQL_DELETE_USER_SESSIONS = "DELETE FROM sessions WHERE user_id = ?"
SQL_DELETE_EXPIRED_SESSIONS = "DELETE FROM sessions WHERE user_id = ? AND expires_at <= ?"
SQL_TOUCH_SESSION = (
    "UPDATE sessions SET last_seen_at = ? "
    "WHERE id = ? AND (last_seen_at IS NULL OR last_seen_at <= ?)"
)
SQL_LIST_SESSIONS = (
    "SELECT id, token_hash, created_at, last_seen_at, user_agent FROM sessions "
    "WHERE user_id = ? AND expires_at > ? ORDER BY created_at DESC, id"
)
SQL_REVOKE_SESSION = "DELETE FROM sessions WHERE user_id = ? AND id = ?"
SQL_REVOKE_OTHER_SESSIONS = "DELETE FROM sessions WHERE user_id = ? AND token_hash <> ?"
SQL_LIVE_SESSION_OF = (
    "SELECT 1 FROM sessions WHERE token_hash = ? AND user_id = ? AND expires_at > ?"
)
TOKEN_COLUMNS = "id, user_id, name, created_at, last_used_at, revoked"
SQL_INSERT_TOKEN = (
    "INSERT INTO api_tokens (id, user_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)"
)
SQL_TOKEN_USER = (
    f"SELECT t.id AS token_id, t.revoked, t.last_used_at AS token_last_used_at, "
    f"{', '.join('u.' + c.strip() for c in USER_COLUMNS.split(','))} "
    "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?"
)
SQL_TOUCH_TOKEN = (
    "UPDATE api_tokens SET last_used_at = ? "
    "WHERE id = ? AND (last_used_at IS NULL OR last_used_at <= ?)"
)
SQL_LIST_TOKENS = f"SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = ? ORDER BY created_at"
SQL_REVOKE_TOKEN = "UPDATE api_tokens SET revoked = 1 WHERE id = ? AND user_id = ? AND revoked = 0"
SQL_REVOKE_USER_TOKENS = "UPDATE api_tokens SET revoked = 1 WHERE user_id = ?"
# ---- deleting an account (delete_user): one write transaction, the user row last ----
SQL_USER_GENERATING = "SELECT 1 FROM jobs WHERE user_id = ? AND status = 'processing' LIMIT 1"
SQL_ERASE_USER_ROWS = (
    "DELETE FROM idempotency_keys WHERE user_id = :id",
    "DELETE FROM jobs WHERE user_id = :id",
    # The rate-limit and quota log (pruned after two days); usage figures read the jobs table.
    "DELETE FROM submissions WHERE user_id = :id",
    "DELETE FROM sessions WHERE user_id = :id",
    "DELETE FROM api_tokens WHERE user_id = :id",
    "DELETE FROM sign_in_failures WHERE email = :email",
    # Decisions this person made on other people's images stay, without naming them.
    "UPDATE jobs SET reviewed_by = NULL WHERE reviewed_by = :id",
)
SQL_DELETE_USER = f"DELETE FROM users WHERE id = :id AND NOT {SQL_IS_LAST_ADMIN}"

# ---- password reset links (issue #16) ----
SQL_INSERT_RESET = (
    "INSERT INTO password_resets (token_hash, user_id, created_by, created_at, expires_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
# Claiming a link marks it used in the same statement that checks it, so two uses of one link
# cannot both pass (SQLite has one writer at a time).
SQL_USE_RESET = (
    "UPDATE password_resets SET used_at = :now "
    "WHERE token_hash = :hash AND used_at IS NULL AND expires_at > :now RETURNING user_id"
)
SQL_PRUNE_RESETS = "DELETE FROM password_resets WHERE user_id = ? AND expires_at <= ?"
SQL_CLEAR_FAILURES = "DELETE FROM sign_in_failures WHERE email = ?"


class LocalAccounts:
    """Accounts on SQLite (see core.ports.Accounts)."""

    def __init__(self, db: Database, *, password_hasher: PasswordHasher | None = None) -> None:
        self._db = db
        self._hasher = password_hasher or PasswordHasher()
        self._dummy_hash: str | None = None

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
        password_hash = self._hasher.hash(password)  # slow: outside the write lock
        admins = {e.strip().lower() for e in admin_emails}
        with self._db.write() as conn:
            if conn.execute(SQL_USER_BY_EMAIL, (email,)).fetchone() is not None:
                raise email_taken()
            first = conn.execute(SQL_COUNT_USERS).fetchone()[0] == 0
            role = Role.ADMIN if first or email in admins else Role.USER
            user_id, now = str(uuid.uuid4()), now_us()
            conn.execute(SQL_INSERT_USER, (user_id, email, password_hash, role.value, now))
            token = self._new_session(conn, user_id, now, user_agent)
            row = conn.execute(SQL_USER_BY_ID, (user_id,)).fetchone()
        return SignedIn(user=_user(row), session_token=token)

    def sign_in(self, email: str, password: str, *, user_agent: str | None = None) -> SignedIn:
        email = normalize_email(email)
        attempt = self._begin_attempt(email)  # RateLimited while the email is locked
        row = self._db.conn.execute(SQL_USER_BY_EMAIL, (email,)).fetchone() if email else None
        password_ok = self._password_matches(row, password)
        if not password_ok or row is None:
            with self._db.write() as conn:
                _keep_failure(conn, email, attempt)
            raise InvalidCredentials()
        if row["disabled"]:
            with self._db.write() as conn:
                _forgive_failures(conn, email, attempt)
            raise AccountDisabled()
        now = now_us()
        with self._db.write() as conn:
            _forgive_failures(conn, email, attempt)
            if self._hasher.check_needs_rehash(row["password_hash"]):
                conn.execute(SQL_SET_PASSWORD_HASH, (self._hasher.hash(password), row["id"]))
            conn.execute(SQL_DELETE_EXPIRED_SESSIONS, (row["id"], now))
            token = self._new_session(conn, row["id"], now, user_agent)
        return SignedIn(user=_user(row), session_token=token)

    def resolve_session(self, session_token: str) -> User | None:
        if not isinstance(session_token, str) or not session_token:
            return None
        token_hash = digest(session_token)
        row = self._db.conn.execute(SQL_SESSION_USER, (token_hash,)).fetchone()
        now = now_us()
        if row is None or row["session_expires_at"] <= now or row["disabled"]:
            return None
        if row["session_expires_at"] - now < seconds_us(SESSION_SECONDS - SESSION_REFRESH_SECONDS):
            try:
                self._db.conn.execute(
                    SQL_EXTEND_SESSION, (now + seconds_us(SESSION_SECONDS), token_hash)
                )
            except StorageFull:  # the session still holds; sliding it waits for a later visit
                log.warning("could not extend a session: storage is full")
        self._touch_session(row["session_id"], row["session_last_seen_at"], now)
        return _user(row)

    def sign_out(self, session_token: str) -> None:
        if isinstance(session_token, str) and session_token:
            self._db.conn.execute(SQL_DELETE_SESSION, (digest(session_token),))

    # ---- users -----------------------------------------------------------------------------

    def get_user(self, user_id: str) -> User | None:
        row = self._db.conn.execute(SQL_USER_BY_ID, (user_id,)).fetchone()
        return None if row is None else _user(row)

    def find_user_by_email(self, email: str) -> User | None:
        row = self._db.conn.execute(SQL_USER_BY_EMAIL, (normalize_email(email),)).fetchone()
        return None if row is None else _user(row)

    def list_users(self) -> list[User]:
        return [_user(r) for r in self._db.conn.execute(SQL_LIST_USERS).fetchall()]

    def set_role(self, user_id: str, role: Role) -> None:
        role = Role(role)
        with self._db.write() as conn:
            if conn.execute(SQL_SET_ROLE, {"role": role.value, "id": user_id}).rowcount != 1:
                raise _refused_change(conn, user_id)

    def set_disabled(self, user_id: str, disabled: bool) -> None:
        with self._db.write() as conn:
            values = {"disabled": int(bool(disabled)), "id": user_id}
            if conn.execute(SQL_SET_DISABLED, values).rowcount != 1:
                raise _refused_change(conn, user_id)
            if disabled:
                conn.execute(SQL_DELETE_USER_SESSIONS, (user_id,))
                conn.execute(SQL_REVOKE_USER_TOKENS, (user_id,))

    # ---- API tokens ------------------------------------------------------------------------

    def create_api_token(self, user_id: str, name: str) -> tuple[ApiToken, str]:
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id, now = str(uuid.uuid4()), now_us()
        with self._db.write() as conn:
            user = conn.execute(SQL_USER_BY_ID, (user_id,)).fetchone()
            if user is None:
                raise NotFound("No such user.", reason="user_not_found")
            if user["disabled"]:
                raise AccountDisabled()
            conn.execute(SQL_INSERT_TOKEN, (token_id, user_id, name, digest(secret), now))
        token = ApiToken(id=token_id, user_id=user_id, name=name, created_at=from_us(now))
        return token, secret

    def resolve_api_token(self, secret: str) -> User | None:
        if not isinstance(secret, str) or not secret.startswith(API_TOKEN_PREFIX):
            return None
        row = self._db.conn.execute(SQL_TOKEN_USER, (digest(secret),)).fetchone()
        if row is None or row["revoked"] or row["disabled"]:
            return None
        self._touch_token(row["token_id"], row["token_last_used_at"])
        return _user(row)

    def list_api_tokens(self, user_id: str) -> list[ApiToken]:
        rows = self._db.conn.execute(SQL_LIST_TOKENS, (user_id,)).fetchall()
        return [
            ApiToken(
                id=r["id"],
                user_id=r["user_id"],
                name=r["name"],
                created_at=from_us(r["created_at"]),
                last_used_at=from_us(r["last_used_at"]),
                revoked=bool(r["revoked"]),
            )
            for r in rows
        ]

    def revoke_api_token(self, user_id: str, token_id: str) -> bool:
        return self._db.conn.execute(SQL_REVOKE_TOKEN, (token_id, user_id)).rowcount == 1

    # ---- deleting an account ---------------------------------------------------------------

    def delete_user(self, user_id: str) -> None:
        with self._db.write() as conn:
            row = conn.execute(SQL_USER_BY_ID, (user_id,)).fetchone()
            if row is None:
                raise NotFound("No such user.", reason="user_not_found")
            if conn.execute(SQL_USER_GENERATING, (user_id,)).fetchone() is not None:
                raise Conflict(DELETE_WHILE_GENERATING, reason="delete_while_generating")
            # The guarded DELETE first: a refused one leaves every other row in place.
            if conn.execute(SQL_DELETE_USER, {"id": user_id}).rowcount != 1:
                raise last_admin_not_deleted()
            for sql in SQL_ERASE_USER_ROWS:
                conn.execute(sql, {"id": user_id, "email": row["email"]})

    # ---- sessions and password (issue #16) -------------------------------------------------

    def list_sessions(self, user_id: str, current_token: str | None) -> list[SessionInfo]:
        current = digest(current_token) if isinstance(current_token, str) else None
        rows = self._db.conn.execute(SQL_LIST_SESSIONS, (user_id, now_us())).fetchall()
        return [
            SessionInfo(
                id=r["id"],
                created_at=from_us(r["created_at"]),
                last_seen_at=from_us(r["last_seen_at"]),
                user_agent=r["user_agent"],
                current=r["token_hash"] == current,
            )
            for r in rows
        ]

    def revoke_session(self, user_id: str, session_id: str) -> bool:
        if not isinstance(session_id, str) or not session_id:
            return False
        return self._db.conn.execute(SQL_REVOKE_SESSION, (user_id, session_id)).rowcount == 1

    def revoke_other_sessions(self, user_id: str, current_token: str) -> int:
        with self._db.write() as conn:
            current = self._require_live_session(conn, user_id, current_token)
            return conn.execute(SQL_REVOKE_OTHER_SESSIONS, (user_id, current)).rowcount

    def change_password(
        self, user_id: str, current_token: str, current_password: str, new_password: str
    ) -> None:
        user = self.get_user(user_id)
        if user is None:
            raise NotFound("No such user.", reason="user_not_found")
        with self._db.write() as conn:
            self._require_live_session(conn, user_id, current_token)
        check_password(new_password)
        email = user.email
        attempt = self._begin_attempt(email)  # RateLimited while the email is locked
        row = self._db.conn.execute(SQL_USER_BY_EMAIL, (email,)).fetchone()
        password_ok = self._password_matches(row, current_password)
        if not password_ok or row is None:
            with self._db.write() as conn:
                _keep_failure(conn, email, attempt)
            raise wrong_current_password()
        new_hash = self._hasher.hash(new_password)  # slow: outside the write lock
        with self._db.write() as conn:
            _forgive_failures(conn, email, attempt)
            current = self._require_live_session(conn, user_id, current_token)
            conn.execute(SQL_SET_PASSWORD_HASH, (new_hash, user_id))
            conn.execute(SQL_REVOKE_OTHER_SESSIONS, (user_id, current))

    def _require_live_session(
        self, conn: sqlite3.Connection, user_id: str, session_token: str
    ) -> str:
        """The hash of `session_token` if it is a live session of the user; else AuthRequired."""
        if not isinstance(session_token, str) or not session_token:
            raise session_required()
        token_hash = digest(session_token)
        if conn.execute(SQL_LIVE_SESSION_OF, (token_hash, user_id, now_us())).fetchone() is None:
            raise session_required()
        return token_hash

    # ---- helpers ---------------------------------------------------------------------------

    def _touch_token(self, token_id: str, last_used_at: int | None) -> None:
        """Record a token's use, at most once per TOKEN_TOUCH_SECONDS and best effort: a
        request that only reads never fails for this bookkeeping."""
        now = now_us()
        stale = now - seconds_us(TOKEN_TOUCH_SECONDS)
        if last_used_at is not None and last_used_at > stale:
            return
        try:
            self._db.conn.execute(SQL_TOUCH_TOKEN, (now, token_id, stale))
        except (sqlite3.Error, StorageFull) as exc:
            log.warning(
                "could not record the use of API token %s: %s", token_id, type(exc).__name__
            )

    def _new_session(
        self, conn: sqlite3.Connection, user_id: str, now: int, user_agent: str | None
    ) -> str:
        token = secrets.token_urlsafe(32)
        expires = now + seconds_us(SESSION_SECONDS)
        conn.execute(
            SQL_INSERT_SESSION,
            (
                digest(token),
                user_id,
                now,
                expires,
                str(uuid.uuid4()),
                now,
                clean_user_agent(user_agent),
            ),
        )
        return token

    def _touch_session(self, session_id: str, last_seen_at: int | None, now: int) -> None:
        """Record a session's visit, at most once per SESSION_TOUCH_SECONDS and best effort
        (like an API token's last use)."""
        stale = now - seconds_us(SESSION_TOUCH_SECONDS)
        if last_seen_at is not None and last_seen_at > stale:
            return
        try:
            self._db.conn.execute(SQL_TOUCH_SESSION, (now, session_id, stale))
        except (sqlite3.Error, StorageFull) as exc:
            log.warning("could not record a session's last visit: %s", type(exc).__name__)

    def _begin_attempt(self, email: str) -> Attempt:
        """Record a sign-in attempt as a failure before its password is checked, in the same
        write transaction that checks the lock, so parallel guesses cannot all pass the check.
        RateLimited (and nothing recorded) while the email is locked: MAX_FAILURES attempts in
        FAILURE_WINDOW_SECONDS lock it until LOCKOUT_SECONDS after the latest."""
        with self._db.write() as conn:
            now = now_us()
            conn.execute(SQL_PRUNE_FAILURES, (email, now - seconds_us(FAILURE_WINDOW_SECONDS)))
            count, latest = conn.execute(
                SQL_RECENT_FAILURES, (email, now - seconds_us(FAILURE_WINDOW_SECONDS))
            ).fetchone()
            if count >= MAX_FAILURES and latest + seconds_us(LOCKOUT_SECONDS) > now:
                raise _locked(latest + seconds_us(LOCKOUT_SECONDS) - now)
            rowid = conn.execute(SQL_RECORD_FAILURE, (email, now)).lastrowid
        if rowid is None:  # an INSERT into a rowid table always has one
            raise RuntimeError("SQLite gave the recorded attempt no rowid")
        return Attempt(rowid=rowid, at=now)

    def _password_matches(self, row: sqlite3.Row | None, password: object) -> bool:
        """Whether `password` is the row's. A missing row costs one hash too (against a dummy),
        so timing does not reveal who has an account."""
        if not isinstance(password, str) or len(password) > MAX_PASSWORD:
            return False
        stored = row["password_hash"] if row is not None else self._dummy()
        try:
            return self._hasher.verify(stored, password) and row is not None
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    # ---- password reset links (issue #16) --------------------------------------------------

    def create_password_reset(
        self, user_id: str, *, created_by: str | None, ttl_seconds: float
    ) -> str:
        """A one-time reset token for `user_id`, valid `ttl_seconds`; only its digest is kept.
        Expired links of the user are dropped on the way."""
        token = secrets.token_urlsafe(32)
        now = now_us()
        with self._db.write() as conn:
            user = conn.execute(SQL_USER_BY_ID, (user_id,)).fetchone()
            if user is None:
                raise NotFound("No such user.", reason="user_not_found")
            if user["disabled"]:
                raise AccountDisabled()
            conn.execute(SQL_PRUNE_RESETS, (user_id, now))
            conn.execute(
                SQL_INSERT_RESET,
                (digest(token), user_id, created_by, now, now + seconds_us(ttl_seconds)),
            )
        return token

    def reset_password(self, token: str, new_password: str) -> User:
        """Set a new password with a reset token: once, before it expires. Every session of the
        user ends and the sign-in lockout of their email is lifted. A bad password leaves the
        token unused; a bad token changes nothing (one message for unknown, expired, used)."""
        check_password(new_password)
        if not isinstance(token, str) or not token or len(token) > 200:
            raise reset_link_invalid()
        password_hash = self._hasher.hash(new_password)  # slow: outside the write lock
        with self._db.write() as conn:
            row = conn.execute(SQL_USE_RESET, {"now": now_us(), "hash": digest(token)}).fetchone()
            user = None if row is None else conn.execute(SQL_USER_BY_ID, (row[0],)).fetchone()
            if user is None or user["disabled"]:
                raise reset_link_invalid()  # rolls the claim back
            conn.execute(SQL_SET_PASSWORD_HASH, (password_hash, user["id"]))
            conn.execute(SQL_DELETE_USER_SESSIONS, (user["id"],))
            conn.execute(SQL_CLEAR_FAILURES, (user["email"],))
        return _user(user)

    def send_password_reset_email(self, email: str, redirect_to: str) -> bool:
        """No mail server in local mode: nothing is sent (False); an admin makes a link."""
        return False

    def set_language(self, user_id: str, language: str | None) -> None:
        with self._db.write() as conn:
            if conn.execute(SQL_SET_LANGUAGE, (language, user_id)).rowcount != 1:
                raise NotFound("No such user.", reason="user_not_found")


class Attempt(NamedTuple):
    """A sign-in attempt's row in sign_in_failures (the time too: SQLite may reuse a rowid)."""

    rowid: int
    at: int


def _keep_failure(conn: sqlite3.Connection, email: str, attempt: Attempt) -> None:
    """A wrong password: the attempt's row stays. If a success that began later forgave it
    meanwhile, record the failure again: it still counts."""
    if conn.execute(SQL_ATTEMPT_EXISTS, (attempt.rowid, email, attempt.at)).fetchone() is None:
        conn.execute(SQL_RECORD_FAILURE, (email, now_us()))


def _forgive_failures(conn: sqlite3.Connection, email: str, attempt: Attempt) -> None:
    """The right password: forget the attempt and the failures before it, unless another
    attempt began since (failures recorded concurrently by others stay counted, this attempt
    with them, so a lock they built is not reopened)."""
    if conn.execute(SQL_ATTEMPT_EXISTS, (attempt.rowid, email, attempt.at)).fetchone() is None:
        return  # already forgiven by a later success
    if conn.execute(SQL_ATTEMPTS_SINCE, (email, attempt.at, attempt.rowid)).fetchone():
        return
    conn.execute(SQL_FORGIVE_FAILURES, (email, attempt.at))


def _refused_change(conn: sqlite3.Connection, user_id: str) -> StudioError:
    """Why a guarded role or disabled UPDATE changed no row."""
    if conn.execute(SQL_USER_EXISTS, (user_id,)).fetchone() is None:
        return NotFound("No such user.", reason="user_not_found")
    return last_admin_refused()


def _locked(wait_us: int) -> RateLimited:
    return sign_in_locked(math.ceil(wait_us / 1_000_000))


def _user(row: sqlite3.Row) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        role=Role(row["role"]),
        disabled=bool(row["disabled"]),
        created_at=from_us(row["created_at"]),
        daily_quota=row["daily_quota"],
        language=row["language"],
    )
