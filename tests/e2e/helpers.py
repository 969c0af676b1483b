"""Playwright steps shared by the e2e tests. Streamlit draws pages over a websocket: wait for
text, never for URLs or for the app frame alone."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

SIGNED_OUT_TEXT = re.compile(r"You are signed out|Sign in to generate images")


def sign_up(page: Page, email: str, password: str) -> None:
    """Create an account on the sign-in page (the browser ends up signed in)."""
    page.get_by_role("tab", name="Create account").click()
    form = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Create account")
    )
    form.get_by_label("Email").fill(email)
    form.get_by_label(re.compile("^Password")).fill(password)
    form.get_by_role("button", name="Create account").click()


def sign_in(page: Page, email: str, password: str) -> None:
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Sign in"))
    form.get_by_label("Email").fill(email)
    form.get_by_role("textbox", name="Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def signed_in_marker(page: Page, email: str) -> Locator:
    """The sidebar line naming the signed-in user."""
    return page.get_by_test_id("stSidebar").get_by_text(re.compile(re.escape(email)))


def open_page(page: Page, title: str) -> None:
    """Switch page through the sidebar navigation and wait for its title."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def generate(page: Page, prompt: str, *, count: int = 1) -> None:
    """Fill the Generate form with the default (demo) provider and submit it."""
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
    form = page.get_by_test_id("stForm")
    # By role, not label: a role query skips the previous provider's form while Streamlit still
    # keeps it (hidden) in the page during a rerun; a label query matches both.
    form.get_by_role("textbox", name=re.compile("^Prompt")).fill(prompt)
    number = form.get_by_label("Number of images")
    number.fill(str(count))
    number.press("Tab")
    form.get_by_role("button", name="Generate").click()
