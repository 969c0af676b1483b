"""AccountsService: signing up, in and out, resolving a browser session or an API token to its
user, and a user's own API tokens."""

from __future__ import annotations

from collections.abc import Iterator

from core.domain.errors import NotFound, ValidationError
from core.domain.models import ApiToken, Role, SessionInfo, User
from core.domain.policy import (
    NO_MAIL_HINT,
    RESET_EMAIL_SENT,
    check_delete_confirmation,
    check_email,
    check_language,
    check_password,
    session_not_found,
)
from core.domain.settings import Settings
from core.ports import Backend, SignedIn
from core.services import your_data
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
            raise ValidationError(
                f"A token name has at most {MAX_TOKEN_NAME} characters.",
                reason="token_name_too_long",
                params={"max": MAX_TOKEN_NAME},
            )
        return self.backend.accounts.create_api_token(user.id, name)

    def list_api_tokens(self, user: User) -> list[ApiToken]:
        return self.backend.accounts.list_api_tokens(user.id)

    def revoke_api_token(self, user: User, token_id: str) -> None:
        if not self.backend.accounts.revoke_api_token(user.id, token_id):
            raise NotFound("No such token.", reason="token_not_found")

    # ---- your data: export and delete ------------------------------------------------------

    def export_summary(self, user: User) -> your_data.ExportSummary:
        """How many jobs and image files the user's export holds, and their total size."""
        return your_data.summary(self.backend, user)

    def export_zip(self, user: User) -> Iterator[bytes]:
        """The user's own jobs (jobs.json) and images as a zip, streamed chunk by chunk."""
        return your_data.export_zip(self.backend, user)

    def delete_account(self, user: User, confirm_email: str) -> None:
        """Delete one's own account, confirmed by typing its email (any case): every stored
        file, then jobs, tokens, sessions and the profile. ValidationError when the typed email
        does not match; Conflict for the last admin. Either way nothing changes."""
        check_delete_confirmation(confirm_email, user.email)
        current = self.backend.accounts.get_user(user.id)
        if current is None:
            raise NotFound("No such user.", reason="user_not_found")
        your_data.erase_user(self.backend, current)

    # ---- forgot password (issue #16) -------------------------------------------------------

    def reset_password(self, token: str, new_password: str) -> User:
        """Set a new password with a reset link's token (single use, expires, the sign-up
        strength rule); every session of the user ends. One clear error for a bad link."""
        return self.backend.accounts.reset_password(token, new_password)

    def mails_reset_links(self) -> bool:
        """True when this deployment can email reset links itself (Supabase mode)."""
        return self.backend.name == "supabase"

    def forgot_password(self, email: str) -> str:
        """Ask for a reset link by email: the message to show, the same whether or not the
        account exists. In local mode there is no mail server: the message says to ask an
        admin."""
        email = check_email(email)
        redirect_to = f"{(self.settings.public_url or '').rstrip('/')}/"
        if self.backend.accounts.send_password_reset_email(email, redirect_to):
            return RESET_EMAIL_SENT
        return NO_MAIL_HINT

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

    # ---- the UI language (issue #14) ---------------------------------------------------------

    def set_language(self, user: User, language: str) -> None:
        """Remember `user`'s UI language in their profile, so every device they sign in on
        uses it. ValidationError for a language the studio does not speak."""
        require_role(user, Role.USER)
        self.backend.accounts.set_language(user.id, check_language(language))
