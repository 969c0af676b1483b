"""The router: sign-in / sign-up forms while signed out, role-based navigation once in."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.domain.models import Role
from tests.constants import PASSWORD
from tests.ui.conftest import TOKEN_KEY, Studio
from tests.ui.helpers import button, errors, page_text, titles

PAGES = Path(__file__).resolve().parents[2] / "pages"


def sign_up(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="sign_up_email").input(email)
    at.text_input(key="sign_up_password").input(password)
    return button(at, "Create account").click().run()


def sign_in(at: AppTest, email: str, password: str) -> AppTest:
    at.text_input(key="sign_in_email").input(email)
    at.text_input(key="sign_in_password").input(password)
    return button(at, "Sign in").click().run()


def test_signed_out_visitor_sees_only_the_sign_in_and_sign_up_forms(studio: Studio) -> None:
    at = studio.app()
    assert not at.exception
    assert titles(at) == ["Image Studio"]
    assert [t.label for t in at.tabs] == ["Sign in", "Create account"]
    assert [b.label for b in at.button] == ["Sign in", "Create account"]
    assert "Signed in as" not in page_text(at)


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("ada@example.com", "short", "at least 8 characters"),
    ],
)
def test_sign_up_with_bad_input_shows_the_reason_and_creates_nothing(
    studio: Studio, email: str, password: str, message: str
) -> None:
    at = sign_up(studio.app(), email, password)
    assert any(message in e for e in errors(at)), errors(at)
    assert titles(at) == ["Image Studio"]
    assert TOKEN_KEY not in at.session_state
    assert studio.runtime.backend.accounts.list_users() == []


def test_sign_up_with_a_registered_email_is_refused(studio: Studio) -> None:
    studio.person("ada@example.com")
    at = sign_up(studio.app(), "ada@example.com", PASSWORD)
    assert errors(at) and "already" in errors(at)[0].lower()
    assert titles(at) == ["Image Studio"]
    assert len(studio.runtime.backend.accounts.list_users()) == 1


def test_first_account_signs_up_straight_into_generate_as_admin(studio: Studio) -> None:
    at = sign_up(studio.app(), "first@example.com", PASSWORD)
    assert not at.exception
    assert titles(at) == ["Generate"]
    assert "first@example.com (admin)" in page_text(at)
    second = sign_up(studio.app(), "second@example.com", PASSWORD)
    assert "second@example.com (user)" in page_text(second)


def test_wrong_password_and_unknown_email_get_the_same_message(studio: Studio) -> None:
    studio.person("ada@example.com")
    wrong = sign_in(studio.app(), "ada@example.com", "not the password")
    unknown = sign_in(studio.app(), "nobody@example.com", "not the password")
    assert errors(wrong) == errors(unknown) == ["Wrong email or password."]
    assert titles(wrong) == titles(unknown) == ["Image Studio"]


def test_sign_in_with_the_right_password_opens_generate(studio: Studio) -> None:
    studio.person("ada@example.com")
    at = sign_in(studio.app(), "ada@example.com", PASSWORD)
    assert titles(at) == ["Generate"]
    assert "ada@example.com" in page_text(at)


def test_a_revoked_session_signs_the_tab_out_on_the_next_run(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    at = studio.app(ada)
    assert titles(at) == ["Generate"]
    studio.services.accounts.sign_out(ada.token)
    at.run()
    assert titles(at) == ["Image Studio"]  # the sign-in page, in place of Generate
    assert [t.label for t in at.tabs] == ["Sign in", "Create account"]
    assert "Your session has ended" in page_text(at)  # says why it is signed out
    assert TOKEN_KEY not in at.session_state
    assert titles(studio.app()) == ["Image Studio"]


def _nav_titles(studio: Studio, role: Role) -> list[str]:
    from pages import widgets

    person = studio.person(f"{role.value}@example.com", role)
    return [title for _path, title, _icon in widgets.navigation_entries(person.user)]


def test_navigation_offers_review_and_admin_only_to_their_roles(studio: Studio) -> None:
    studio.person("owner@example.com")  # the first account is the admin
    review = ["Review"] if (PAGES / "review.py").exists() else []
    admin = ["Admin"] if (PAGES / "admin.py").exists() else []
    mine = ["Generate", "History", "Edit", "Compare"]  # every user's pages
    assert _nav_titles(studio, Role.USER) == [*mine, "Account"]
    assert _nav_titles(studio, Role.REVIEWER) == [*mine, *review, "Account"]
    assert _nav_titles(studio, Role.ADMIN) == [*mine, *review, *admin, "Account"]


# Modules of pages/ that are shared pieces, never registered as a page.
NOT_PAGES = {
    "widgets.py",
    "i18n.py",
    "iterate.py",
    "recall.py",
    "webhooks.py",
    "gallery.py",
    "job_text.py",
    "mobile.py",
    "theme.py",
    "failures.py",
    "names.py",
    "selection.py",
}
ALL_PAGES = sorted(p.name for p in PAGES.glob("*.py") if p.name not in NOT_PAGES)


@pytest.mark.parametrize("page", ALL_PAGES)
def test_a_page_file_run_directly_while_signed_out_renders_only_the_sign_in_message(
    studio: Studio, page: str
) -> None:
    at = studio.app(script=f"pages/{page}")
    assert not at.exception
    assert [type(e).__name__ for e in at.main.children.values()] == ["Info", "Html"]
    assert page_text(at) == "You are signed out. Sign in to use the studio."


@pytest.mark.parametrize(
    ("page", "role"),
    [("review.py", Role.USER), ("admin.py", Role.USER), ("admin.py", Role.REVIEWER)],
)
def test_a_page_run_directly_by_a_lower_role_renders_only_a_refusal(
    studio: Studio, page: str, role: Role
) -> None:
    if not (PAGES / page).exists():
        pytest.skip(f"pages/{page} is not part of this build")
    studio.person("owner@example.com")
    person = studio.person(f"{role.value}@example.com", role)
    at = studio.app(person, script=f"pages/{page}")
    assert not at.exception
    assert [type(e).__name__ for e in at.main.children.values()] == ["Error"]
    assert titles(at) == []


@pytest.mark.parametrize("page", ["generate.py", "history.py", "account.py"])
def test_every_user_page_is_reachable_through_the_router(studio: Studio, page: str) -> None:
    studio.person("owner@example.com")
    ada = studio.person("ada@example.com")
    at = studio.app(ada)
    at.switch_page(f"pages/{page}").run()
    assert not at.exception
    assert titles(at) == [page.removesuffix(".py").capitalize()]


def test_an_email_in_admin_emails_signs_up_as_admin(studio_factory) -> None:
    studio = studio_factory(admin_emails=frozenset({"boss@example.com"}))
    studio.person("first@example.com")
    at = sign_up(studio.app(), "Boss@Example.com", PASSWORD)
    assert "(admin)" in page_text(at)
