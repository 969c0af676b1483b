"""Changing the password in one browser signs the user's other browsers out (their next action
shows sign-in) and keeps this one; the old password stops working, the new one works. The
session list names both browsers and marks this one."""

from __future__ import annotations

import re

from playwright.sync_api import Browser, Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import SIGNED_OUT_TEXT, open_page, sign_in, sign_up, signed_in_marker

NEW_PASSWORD = "a brand new passphrase"


def _change_password(page: Page, current: str, new: str) -> None:
    form = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Change password")
    )
    form.get_by_label("Current password").fill(current)
    form.get_by_label("New password (at least 8 characters)").fill(new)
    form.get_by_label("Confirm the new password").fill(new)
    form.get_by_role("button", name="Change password").click()


def test_a_password_change_signs_out_the_other_browser_and_keeps_this_one(
    live_server_factory, page: Page, browser: Browser
) -> None:
    server = live_server_factory(env={"WORKER_ENABLED": "0"})
    email = "ada@example.com"
    page.goto(server.url + "/")
    sign_up(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()

    second_context = browser.new_context(viewport={"width": 1280, "height": 900})
    second_context.set_default_timeout(20_000)
    try:
        other = second_context.new_page()
        other.goto(server.url + "/")
        sign_in(other, email, PASSWORD)
        expect(signed_in_marker(other, email)).to_be_visible()

        open_page(page, "Account")
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text(re.compile(r"^This browser · .*Chrom"))).to_have_count(1)
        expect(main.get_by_role("button", name="Sign out browser")).to_have_count(1)

        # A wrong current password changes nothing.
        _change_password(page, "not my password", NEW_PASSWORD)
        expect(
            main.get_by_text("Your current password is not correct.", exact=False)
        ).to_be_visible()

        _change_password(page, PASSWORD, NEW_PASSWORD)
        expect(
            main.get_by_text("Password changed. Every other browser was signed out.")
        ).to_be_visible()
        expect(main.get_by_role("button", name="Sign out browser")).to_have_count(0)

        # The other browser's next action lands on sign-in.
        other.get_by_test_id("stSidebarNav").get_by_role("link", name="History").click()
        expect(other.get_by_text(SIGNED_OUT_TEXT).first).to_be_visible()
        other.reload()
        expect(other.get_by_role("tab", name="Create account")).to_be_visible()

        # This browser stays signed in, across a reload too (its cookie's session lives).
        page.reload()
        expect(signed_in_marker(page, email)).to_be_visible()

        # The old password fails, the new one works.
        sign_in(other, email, PASSWORD)
        expect(other.get_by_text("Wrong email or password.")).to_be_visible()
        sign_in(other, email, NEW_PASSWORD)
        expect(signed_in_marker(other, email)).to_be_visible()
    finally:
        second_context.close()
