"""Account: who am I, sign out (revoked server-side), change password, the session list, and
personal API tokens."""

from __future__ import annotations

import pytest

from core.domain.models import Role
from tests.constants import PASSWORD
from tests.ui.conftest import TOKEN_KEY, Studio
from tests.ui.helpers import button, errors, page_text, titles

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
    _field(at, "Token name").input("laptop script")
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


# ---- password and sessions (issue #16) ---------------------------------------------------------

NEW_PASSWORD = "a brand new passphrase"


def _field(at, label: str):  # type: ignore[no-untyped-def]
    (found,) = [t for t in at.text_input if t.label == label]
    return found


def _change_password(at, current: str, new: str, confirm: str | None = None):  # type: ignore[no-untyped-def]
    _field(at, "Current password").input(current)
    _field(at, "New password (at least 8 characters)").input(new)
    _field(at, "Confirm the new password").input(new if confirm is None else confirm)
    return button(at, "Change password").click().run()


def test_changing_the_password_signs_out_the_other_browsers_only(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    laptop = studio.services.accounts.sign_in("ada@example.com", PASSWORD, "Laptop browser")
    at = studio.app(ada, ACCOUNT)

    at = _change_password(at, PASSWORD, NEW_PASSWORD)

    assert errors(at) == []
    assert "Password changed. Every other browser was signed out." in page_text(at)
    assert studio.services.accounts.user_for_session(laptop.session_token) is None
    assert studio.services.accounts.user_for_session(ada.token) is not None
    assert studio.services.accounts.sign_in("ada@example.com", NEW_PASSWORD).user.id == ada.user.id


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong password!", NEW_PASSWORD, None, "Your current password is not correct."),
        (PASSWORD, "short", None, "A password has at least 8 characters."),
        (PASSWORD, NEW_PASSWORD, "something else", "confirmation differ"),
    ],
)
def test_a_refused_password_change_says_why_and_changes_nothing(
    studio: Studio, current: str, new: str, confirm: str | None, message: str
) -> None:
    ada = studio.person("ada@example.com")
    laptop = studio.services.accounts.sign_in("ada@example.com", PASSWORD)
    at = _change_password(studio.app(ada, ACCOUNT), current, new, confirm)

    assert any(message in e for e in errors(at)), errors(at)
    assert studio.services.accounts.user_for_session(laptop.session_token) is not None
    assert studio.services.accounts.sign_in("ada@example.com", PASSWORD).user.id == ada.user.id


def test_the_sessions_list_marks_this_browser_and_signs_out_one(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    phone = studio.services.accounts.sign_in("ada@example.com", PASSWORD, "Phone browser 1.0")
    laptop = studio.services.accounts.sign_in("ada@example.com", PASSWORD, "Laptop browser 2.0")
    at = studio.app(ada, ACCOUNT)
    text = page_text(at)
    assert "This browser · Unknown browser" in text
    assert "Phone browser 1.0" in text and "Laptop browser 2.0" in text
    sessions = studio.services.accounts.list_sessions(ada.user, ada.token)
    phone_id = next(s.id for s in sessions if s.user_agent == "Phone browser 1.0")
    this_id = next(s.id for s in sessions if s.current)
    assert [b.key for b in at.button if b.key == f"session_{this_id}"] == []

    at = at.button(key=f"session_{phone_id}").click().run()

    assert studio.services.accounts.user_for_session(phone.session_token) is None
    assert studio.services.accounts.user_for_session(laptop.session_token) is not None
    assert "Phone browser 1.0" not in page_text(at)
    assert "That browser was signed out." in page_text(at)


def test_sign_out_everywhere_else_keeps_this_browser(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    others = [studio.services.accounts.sign_in("ada@example.com", PASSWORD) for _ in range(2)]
    bob = studio.person("bob@example.com")
    at = studio.app(ada, ACCOUNT)

    at = button(at, "Sign out everywhere else").click().run()

    assert "Signed out 2 other browsers." in page_text(at)  # Babel's plural rule
    assert all(studio.services.accounts.user_for_session(o.session_token) is None for o in others)
    assert studio.services.accounts.user_for_session(ada.token) is not None
    assert studio.services.accounts.user_for_session(bob.token) is not None
    assert button(at, "Sign out everywhere else").disabled
