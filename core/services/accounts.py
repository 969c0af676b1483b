"""AccountsService: signing up, in and out, resolving a browser session or an API token to its
user, and a user's own API tokens."""

from __future__ import annotations

from core.domain.errors import NotFound, ValidationError
from core.domain.models import ApiToken, Role, SessionInfo, User
from core.domain.policy import check_password, session_not_found
from core.domain.settings import Settings
from core.ports import Backend, SignedIn
from core.services.access import require_role

MAX_TOKEN_NAME = 100


class AccountsService:
    """Sessions and personal API tokens."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings

    def sign_up(self, email: str, password: str, user_agent: str | None = None) -> SignedIn:
        """A new account, signed in. The first account and ADMIN_EMAILS addresses are admins.
        `user_agent` (the browser's header) is shown in the session list."""
        return self.backend.accounts.sign_up(
            email, password, admin_emails=self.settings.admin_emails, user_agent=user_agent
        )

    def sign_in(self, email: str, password: str, user_agent: str | None = None) -> SignedIn:
        return self.backend.accounts.sign_in(email, password, user_agent=user_agent)

    def sign_out(self, session_token: str) -> None:
        self.backend.accounts.sign_out(session_token)

    def user_for_session(self, session_token: str | None) -> User | None:
        """The signed-in user behind a browser cookie, or None."""
        if not session_token:
            return None
        return self.backend.accounts.resolve_session(session_token)

    def user_for_api_token(self, secret: str | None) -> User | None:
        if not secret:
            return None
        return self.backend.accounts.resolve_api_token(secret)

    def create_api_token(self, user: User, name: str) -> tuple[ApiToken, str]:
        """A new token of `user` and its secret (shown once; only its hash is stored)."""
        require_role(user, Role.USER)
        name = (name or "").strip() or "API token"
        if len(name) > MAX_TOKEN_NAME:
            raise ValidationError(f"A token name has at most {MAX_TOKEN_NAME} characters.")
        return self.backend.accounts.create_api_token(user.id, name)

    def list_api_tokens(self, user: User) -> list[ApiToken]:
        return self.backend.accounts.list_api_tokens(user.id)

    def revoke_api_token(self, user: User, token_id: str) -> None:
        if not self.backend.accounts.revoke_api_token(user.id, token_id):
            raise NotFound("No such token.")

    # ---- sessions and password (issue #16) -----------------------------------------------------

    def list_sessions(self, user: User, current_token: str | None) -> list[SessionInfo]:
        """The user's signed-in browsers, newest first, the one of `current_token` marked."""
        return self.backend.accounts.list_sessions(user.id, current_token)

    def revoke_session(self, user: User, session_id: str) -> None:
        """Sign out one of the user's browsers; NotFound (nothing changed) for an id that is
        not one of theirs."""
        if not self.backend.accounts.revoke_session(user.id, session_id):
            raise session_not_found()

    def revoke_other_sessions(self, user: User, current_token: str) -> int:
        """Sign out every browser of the user but this one; how many were signed out."""
        return self.backend.accounts.revoke_other_sessions(user.id, current_token)

    def change_password(
        self, user: User, current_token: str, current_password: str, new_password: str
    ) -> None:
        """Set a new password (the sign-up rule) after checking the current one (a wrong one
        counts toward the sign-in lockout); every other session of the user ends, this one
        stays."""
        check_password(new_password)
        self.backend.accounts.change_password(
            user.id, current_token, current_password, new_password
        )
