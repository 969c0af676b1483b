"""Forgot password (local mode) in a real browser: the sign-in page says to ask an admin; the
admin makes a one-time reset link on the Admin page; the user opens it, sets a new password,
is back on the sign-in form and signs in with it; the old password and the link no longer work.
With STUDIO_SHOTS=DIR set, the pages are also saved as screenshots (desktop and phone)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from core.domain.policy import NO_MAIL_HINT, PASSWORD_RESET_DONE
from tests.constants import PASSWORD
from tests.e2e.helpers import open_page, sign_in, signed_in_marker
from tests.e2e.test_review_admin import seeded, signed_in_page

NEW = "a brand new passphrase"
SHOTS = os.environ.get("STUDIO_SHOTS")


def _shot(page: Page, name: str) -> None:
    """Desktop (as is) and phone (390 px wide) screenshots, when STUDIO_SHOTS is set."""
    if not SHOTS:
        return
    Path(SHOTS).mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    page.wait_for_timeout(400)
    page.screenshot(path=f"{SHOTS}/{name}-desktop.png", full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(600)
    page.screenshot(path=f"{SHOTS}/{name}-phone.png", full_page=True)
    if size:
        page.set_viewport_size(size)
        page.wait_for_timeout(400)


def _new_page(browser: Browser) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    return context.new_page()


def test_an_admin_made_reset_link_lets_the_user_set_a_new_password(
    live_server_factory, browser: Browser, tmp_path: Path
) -> None:
    dep = seeded(tmp_path)
    bob = dep.bob.email
    dep.backend.close()
    server = live_server_factory(data_dir=dep.settings.data_dir)

    visitor = _new_page(browser)
    visitor.goto(server.url + "/")
    visitor.get_by_text("Forgot password?").click()
    expect(visitor.get_by_text(NO_MAIL_HINT)).to_be_visible()
    _shot(visitor, "sign-in-forgot")
    visitor.context.close()

    admin = signed_in_page(browser, server.url, dep.admin.email)
    open_page(admin, "Admin")
    main = admin.get_by_test_id("stMain")
    main.get_by_text("Users", exact=True).click()
    box = main.get_by_role("combobox", name="Edit a user")
    expect(box).to_be_visible()
    box.click()
    admin.get_by_role("option", name=bob, exact=True).click()
    expect(box).to_have_value(bob)
    # The page has redrawn for bob (a click during the rerun would be lost).
    for_bob = re.compile(f"lets {re.escape(bob)} set a new password")
    expect(main.get_by_text(for_bob)).to_be_visible()
    main.get_by_role("button", name="Reset link").click()
    code = main.get_by_test_id("stCode")
    expect(code).to_contain_text(f"{server.url}/?reset=", timeout=20_000)  # browser's address
    link = code.inner_text().strip()
    _shot(admin, "admin-reset-link")
    admin.context.close()
    assert re.fullmatch(re.escape(server.url) + r"/\?reset=[A-Za-z0-9_-]{20,}", link), link

    user = _new_page(browser)
    user.goto(link)
    expect(user.get_by_role("heading", name="Set a new password")).to_be_visible()
    _shot(user, "reset-form")
    user.get_by_label("New password (at least 8 characters)").fill(NEW)
    user.get_by_label("New password again").fill(NEW)
    user.get_by_role("button", name="Set new password").click()
    expect(user.get_by_text(PASSWORD_RESET_DONE)).to_be_visible()
    _shot(user, "reset-done")
    sign_in(user, bob, PASSWORD)
    expect(user.get_by_text(re.compile("Wrong email or password|invalid", re.I))).to_be_visible()
    user.goto(server.url + "/")
    sign_in(user, bob, NEW)
    expect(signed_in_marker(user, bob)).to_be_visible()
    user.context.close()

    again = _new_page(browser)
    again.goto(link)
    again.get_by_label("New password (at least 8 characters)").fill("yet another passphrase")
    again.get_by_label("New password again").fill("yet another passphrase")
    again.get_by_role("button", name="Set new password").click()
    expect(again.get_by_text(re.compile("already used"))).to_be_visible()
    again.context.close()

    token = link.rsplit("=", 1)[1]
    assert token not in server.log()  # the secret never reaches the server's log
    data = Path(dep.settings.data_dir)
    assert not any(token.encode() in f.read_bytes() for f in data.rglob("*") if f.is_file())
