"""Account policy both backends enforce: email and password rules, session and token lifetimes,
the sign-in lockout, and the user-facing messages of these rules."""

from __future__ import annotations

import re

from core.domain.errors import Conflict, ValidationError

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


# The WHATWG form-validation pattern, with at least one dot in the domain.
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def last_admin_refused() -> Conflict:
    """Demoting or disabling the last enabled admin (both backends)."""
    return Conflict(
        "You cannot demote or disable the last admin; make someone else an admin first."
    )


def normalize_email(email: str) -> str:
    """Emails compare trimmed and lower-cased."""
    return email.strip().lower() if isinstance(email, str) else ""


def check_email(email: str) -> str:
    """The normalized email; ValidationError unless it looks like an address."""
    email = normalize_email(email)
    if not EMAIL_RE.match(email) or len(email) > MAX_EMAIL:
        raise ValidationError("Enter a valid email address.")
    return email


def check_password(password: str) -> None:
    """Raise ValidationError unless the password has 8 to 1024 characters."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(f"A password has at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise ValidationError(f"A password has at most {MAX_PASSWORD} characters.")
