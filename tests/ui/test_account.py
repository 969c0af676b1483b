"""Account: who am I, sign out (revoked server-side), and personal API tokens."""

from __future__ import annotations

from core.domain.models import Role
from tests.ui.conftest import TOKEN_KEY, Studio
from tests.ui.helpers import button, page_text, titles

ACCOUNT = "pages/account.py"


def test_signed_out_account_renders_only_the_sign_in_message(studio: Studio) -> None:
    at = studio.app(script=ACCOUNT)
    assert titles(at) == []
    assert not at.button


def test_shows_email_and_role(studio: Studio) -> None:
    admin = studio.person("owner@example.com")
    ada = studio.person("ada@example.com", Role.REVIEWER)
    text = page_text(studio.app(ada, ACCOUNT))
    assert "Email: ada@example.com" in text and "Role:  reviewer" in text
    assert "Role:  admin" in page_text(studio.app(admin, ACCOUNT))


def test_a_new_token_is_shown_once_works_and_can_be_revoked(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    at = studio.app(ada, ACCOUNT)
    at.text_input[0].input("laptop script")
    at = button(at, "Create token").click().run()
    secrets = [c.value for c in at.code]
    assert len(secrets) == 1
    secret = secrets[0]
    user = studio.services.accounts.user_for_api_token(secret)
    assert user is not None and user.id == ada.user.id
    assert "laptop script" in [t.value for t in at.text]

    at.run()
    assert secret not in page_text(at)  # shown once
    assert "never" not in page_text(at)  # it was used just now
    (token,) = studio.services.accounts.list_api_tokens(ada.user)
    at = at.button(key=f"revoke_{token.id}").click().run()
    assert studio.services.accounts.user_for_api_token(secret) is None
    assert "laptop script  (revoked)" in [t.value for t in at.text]


def test_sign_out_revokes_the_session_everywhere(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    at = studio.app(ada, ACCOUNT)
    at = button(at, "Sign out").click().run()
    assert studio.services.accounts.user_for_session(ada.token) is None
    assert TOKEN_KEY not in at.session_state
    other_tab = studio.app(ada)  # the same session token in another tab
    assert titles(other_tab) == ["Image Studio"]
