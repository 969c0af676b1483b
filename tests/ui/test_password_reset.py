"""Forgot password in the app: the sign-in form's "Forgot password?" (local mode: ask your
admin), the set-a-new-password form a reset link (?reset=TOKEN) opens, and the admin page's
"Reset link" per user."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.domain.errors import InvalidCredentials
from core.domain.policy import NO_MAIL_HINT, PASSWORD_RESET_DONE
from tests.constants import PASSWORD
from tests.constants import REPO_ROOT as REPO
from tests.ui.conftest import TOKEN_KEY, Studio
from tests.ui.helpers import button, errors, page_text, titles

NEW = "a brand new passphrase"


def _open_link(token: str, token_key: str | None = None) -> AppTest:
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=30)
    if token_key is not None:
        at.session_state[TOKEN_KEY] = token_key
    at.query_params["reset"] = token
    return at.run()


def _submit(at: AppTest, password: str, again: str | None = None) -> AppTest:
    at.text_input(key="reset_password").input(password)
    at.text_input(key="reset_again").input(password if again is None else again)
    return button(at, "Set new password").click().run()


def _link_token(studio: Studio, email: str) -> str:
    admin = studio.services.accounts.sign_in("root@example.com", PASSWORD).user
    user = studio.services.admin.find_user(email)
    link = studio.services.admin.create_reset_link(admin, user.id)
    return link.split("?reset=", 1)[1]


def test_forgot_password_in_local_mode_says_ask_your_admin(studio: Studio) -> None:
    at = studio.app()
    assert [e.label for e in at.expander] == ["Forgot password?"]
    assert NO_MAIL_HINT in page_text(at)
    assert [b.label for b in at.button] == ["Sign in", "Create account"]  # no mail form


def test_a_reset_link_opens_the_form_and_sets_a_new_password(studio: Studio) -> None:
    studio.person("root@example.com")
    amy = studio.person("amy@example.com")
    at = _open_link(_link_token(studio, "amy@example.com"))
    assert titles(at) == ["Set a new password"]
    assert "Signed in as" not in page_text(at)

    at = _submit(at, NEW)

    assert not at.exception and not errors(at)
    assert titles(at) == ["Image Studio"]  # back on the sign-in form
    assert PASSWORD_RESET_DONE in page_text(at)
    assert dict(at.query_params) == {}
    assert studio.services.accounts.user_for_session(amy.token) is None
    studio.services.accounts.sign_in("amy@example.com", NEW)


def test_a_reset_link_ends_the_session_of_the_tab_that_opens_it(studio: Studio) -> None:
    studio.person("root@example.com")
    amy = studio.person("amy@example.com")
    at = _submit(_open_link(_link_token(studio, "amy@example.com"), amy.token), NEW)
    assert titles(at) == ["Image Studio"] and TOKEN_KEY not in at.session_state
    assert "Signed in as" not in page_text(at)


def test_bad_links_and_weak_passwords_show_the_reason_and_change_nothing(
    studio: Studio,
) -> None:
    studio.person("root@example.com")
    studio.person("amy@example.com")
    token = _link_token(studio, "amy@example.com")
    at = _submit(_open_link(token), "short")
    assert any("at least 8 characters" in e for e in errors(at)), errors(at)
    at = _submit(at, NEW, "something else entirely")
    assert errors(at) == ["The two passwords differ."]
    at = _submit(_open_link("made-up"), NEW)
    assert any("invalid, expired or already used" in e for e in errors(at)), errors(at)
    assert titles(at) == ["Set a new password"]
    studio.services.accounts.sign_in("amy@example.com", PASSWORD)  # unchanged
    _submit(_open_link(token), NEW)  # the link still works once
    at = _submit(_open_link(token), "yet another passphrase")
    assert any("already used" in e for e in errors(at)), errors(at)
    try:
        studio.services.accounts.sign_in("amy@example.com", "yet another passphrase")
    except InvalidCredentials:
        pass
    else:
        raise AssertionError("a used link set a password again")
