"""Policy both backends enforce: email and password rules, session and token lifetimes, the
sign-in lockout, the last admin, the submission rate limit and daily quota, and lost leases.
The user-facing messages of these rules live here, once: the local store and the Supabase
adapter both raise what these functions build (supabase-schema.sql writes the lost-lease
message itself, in the same words)."""

from __future__ import annotations

import math
import re

from core.domain.errors import (
    AccountExists,
    AuthRequired,
    Conflict,
    NotFound,
    QuotaExceeded,
    RateLimited,
    ValidationError,
)

MIN_PASSWORD = 8


MAX_PASSWORD = 1024


MAX_EMAIL = 254


SESSION_SECONDS = 30 * 86_400


SESSION_REFRESH_SECONDS = 86_400  # slide the expiry at most once a day per session


MAX_FAILURES = 5


FAILURE_WINDOW_SECONDS = 15 * 60


LOCKOUT_SECONDS = 5 * 60


API_TOKEN_PREFIX = "ist_"


TOKEN_TOUCH_SECONDS = 60  # record a token's last use at most this often


SESSION_TOUCH_SECONDS = 60  # record a session's last visit at most this often


MAX_USER_AGENT = 512  # a longer User-Agent header is cut to this many characters


# The WHATWG form-validation pattern, with at least one dot in the domain.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def last_admin_refused() -> Conflict:
    """Demoting or disabling the last enabled admin (both backends)."""
    return Conflict(
        "You cannot demote or disable the last admin; make someone else an admin first.",
        reason="last_admin_refused",
    )


def email_taken() -> AccountExists:
    """Signing up with the email of an existing account (both backends)."""
    return AccountExists(
        "An account with this email already exists. Sign in instead.", reason="email_taken"
    )


def invalid_email() -> ValidationError:
    return ValidationError("Enter a valid email address.", reason="invalid_email")


def sign_in_locked(retry_after: int) -> RateLimited:
    """Too many failed sign-ins for one email: locked for `retry_after` more seconds."""
    wait = max(1, retry_after)
    minutes = max(1, math.ceil(wait / 60))
    return RateLimited(
        f"Too many failed sign-ins for this email. Try again in {minutes} min.",
        retry_after=wait,
        reason="sign_in_locked",
        params={"minutes": minutes},
    )


def rate_limited(limit: int | None, retry_after: int | None) -> RateLimited:
    """Submitting past `limit` images a minute; `retry_after` None when the batch alone is
    larger than the limit (waiting would not help)."""
    message = (
        f"You can submit {limit} images a minute."
        if limit
        else "You are submitting too many images a minute."
    )
    if retry_after is None:
        return RateLimited(
            f"{message} Submit fewer at once.",
            retry_after=60,
            reason="rate_limited_batch" if limit else "rate_limited_unknown_batch",
            params={"limit": limit} if limit else {},
        )
    return RateLimited(
        f"{message} Try again in {retry_after} s.",
        retry_after=retry_after,
        reason="rate_limited" if limit else "rate_limited_unknown",
        params={"limit": limit, "seconds": retry_after} if limit else {"seconds": retry_after},
    )


def quota_exceeded(quota: int | None, left: int, retry_after: int) -> QuotaExceeded:
    """Submitting past the daily quota (it resets at midnight UTC, `retry_after` s away)."""
    return QuotaExceeded(
        f"Your daily limit is {quota} images and {left} are left today. It resets at midnight UTC.",
        retry_after=retry_after,
        reason="quota_exceeded",
        params={"quota": quota or 0, "left": left},
    )


# A job whose lease expired on its last attempt fails with this code and message (the local
# claim builds it in SQL from the two halves around the attempt count).
WORKER_LOST_CODE = "worker_lost"
WORKER_LOST_BEFORE = "The worker crashed or timed out repeatedly while generating this image ("
WORKER_LOST_AFTER = " attempts); giving up."


def normalize_email(email: str) -> str:
    """Emails compare trimmed and lower-cased."""
    return email.strip().lower() if isinstance(email, str) else ""


def check_email(email: str) -> str:
    """The normalized email; ValidationError unless it looks like an address."""
    email = normalize_email(email)
    if not EMAIL_RE.match(email) or len(email) > MAX_EMAIL:
        raise invalid_email()
    return email


def check_password(password: str) -> None:
    """Raise ValidationError unless the password has 8 to 1024 characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(
            f"A password has at least {MIN_PASSWORD} characters.",
            reason="password_too_short",
            params={"min": MIN_PASSWORD},
        )
    if len(password) > MAX_PASSWORD:
        raise ValidationError(
            f"A password has at most {MAX_PASSWORD} characters.",
            reason="password_too_long",
            params={"max": MAX_PASSWORD},
        )


def last_admin_not_deleted() -> Conflict:
    """Deleting the last enabled admin's account (both backends)."""
    return Conflict(
        "The last admin's account cannot be deleted; make someone else an admin first.",
        reason="last_admin_not_deleted",
    )


def check_delete_confirmation(typed_email: object, account_email: str) -> None:
    """Deleting an account is confirmed by typing its email (any case, spaces trimmed);
    ValidationError otherwise."""
    typed = normalize_email(typed_email) if isinstance(typed_email, str) else ""
    if not typed or typed != normalize_email(account_email):
        raise ValidationError(
            "Type the account's email address exactly to confirm; nothing was deleted.",
            reason="delete_confirmation",
        )


DELETE_WHILE_GENERATING = (
    "An image of this account is being generated; wait for it to finish, then delete the account."
)

# ---- password reset (forgot password) ------------------------------------------------------

RESET_LINK_SECONDS = 30 * 60  # a local one-time reset link works this long, once

RESET_QUERY = "reset"  # a reset link is the studio's sign-in screen with ?reset=TOKEN

NO_MAIL_HINT = "There is no mail server in this studio: ask your admin for a password reset link."

RESET_EMAIL_SENT = "If an account exists for this email, a message with a reset link is on its way."

PASSWORD_RESET_DONE = "Your password is changed. Sign in with the new one."


def reset_link_invalid() -> ValidationError:
    """An unknown, expired or already used reset link (both backends, one message)."""
    return ValidationError(
        "This reset link is invalid, expired or already used. Ask for a new one.",
        reason="reset_link_invalid",
    )


def reset_link_url(public_url: str | None, token: str) -> str:
    """The link a reset token travels in: absolute under PUBLIC_URL, else relative."""
    return f"{(public_url or '').rstrip('/')}/?{RESET_QUERY}={token}"


# ---- change password and sessions -------------------------------------------------------------


def wrong_current_password() -> ValidationError:
    """Changing the password with a wrong current one (counts as a failed sign-in)."""
    return ValidationError(
        "Your current password is not correct. Nothing was changed.",
        reason="wrong_current_password",
    )


def session_not_found() -> NotFound:
    """Revoking a session that is not one of the caller's (or is gone already)."""
    return NotFound("No such session: it may have signed out already.", reason="session_not_found")


def clean_user_agent(user_agent: str | None) -> str | None:
    """A User-Agent header as stored: printable, trimmed, at most MAX_USER_AGENT characters."""
    if not isinstance(user_agent, str):
        return None
    text = "".join(ch for ch in user_agent if ch.isprintable()).strip()
    return text[:MAX_USER_AGENT] or None


def session_required() -> AuthRequired:
    """An account change asked with a session token that is not (or no longer) the user's."""
    return AuthRequired("Your session has ended. Sign in again to do this.", reason="session_ended")


def new_passwords_differ() -> ValidationError:
    """The new password and its confirmation are not the same."""
    return ValidationError(
        "The new password and its confirmation differ. Nothing was changed.",
        reason="new_passwords_differ",
    )


# ---- the UI language kept in the profile (issue #14) ------------------------------------------

LANGUAGES = ("en", "zh-CN")  # BCP 47 tags; the UI's catalogues (pages/locales/*.toml) match


def check_language(language: object) -> str:
    """A language the studio speaks; ValidationError (nothing stored) for anything else."""
    if isinstance(language, str) and language in LANGUAGES:
        return language
    raise ValidationError(
        "Choose a language the studio speaks: en or zh-CN.", reason="language_unknown"
    )
