"""What every service checks the same way: the caller's role, the daily quota that applies to
a user, the page size of any listing, and the job store acting with a user's credentials.
One home for each rule on the Python side; the services import them from here."""

from __future__ import annotations

from core.domain.errors import AccountDisabled, AuthRequired, Forbidden
from core.domain.models import Role, User
from core.domain.settings import Settings
from core.ports import Backend, JobStore

MAX_PAGE = 100  # items per page of any listing (the API's upper bound on `limit`)


def require_role(user: User | None, role: Role) -> None:
    """Signed in, enabled, and at least `role` (admin ⊃ reviewer ⊃ user)."""
    if user is None:
        raise AuthRequired("Sign in first.", reason="sign_in_first")
    if user.disabled:
        raise AccountDisabled()
    allowed = user.is_admin if role is Role.ADMIN else user.is_reviewer
    if role is not Role.USER and not allowed:
        if role is Role.ADMIN:
            raise Forbidden("Only admins can do this.", reason="admins_only")
        raise Forbidden("Only reviewers can do this.", reason="reviewers_only")


def effective_quota(user: User, settings: Settings) -> int | None:
    """The daily quota that applies to `user`: their own, else the global DAILY_QUOTA (None:
    no limit). supabase-schema.sql applies the same rule to a user's own submissions."""
    return user.daily_quota if user.daily_quota is not None else settings.daily_quota


def page_limit(limit: int) -> int:
    """A listing's `limit` clamped to 1..MAX_PAGE."""
    return max(1, min(limit, MAX_PAGE))


def user_jobs(backend: Backend, user: User) -> JobStore:
    """The job store acting with the user's credentials."""
    return backend.for_user(user).jobs
