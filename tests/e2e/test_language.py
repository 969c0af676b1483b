"""Issue #14 in a real browser: a Chinese browser gets the Chinese UI on its first visit;
switching language in the sidebar re-renders in place and keeps what was typed; a signed-in
user's choice survives a reload and follows them to another browser (context) that signs in
with an English browser language. Screenshots go to /tmp/shots/i18n/ when that folder
exists (they are looked at by a person, not compared)."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Browser, Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import choose, open_page, sign_in, sign_up, signed_in_marker

SHOTS = Path("/tmp/shots/i18n")


def _context_page(browser: Browser, locale: str, width: int = 1280) -> Page:
    context = browser.new_context(viewport={"width": width, "height": 900}, locale=locale)
    context.set_default_timeout(20_000)
    return context.new_page()


def _switch_language(page: Page, name: str) -> None:
    """Pick a language in the sidebar's switcher (retrying a click a rerun swallowed)."""
    choose(page, page.get_by_test_id("stSidebar").get_by_role("combobox"), name)


def _shot(page: Page, name: str) -> None:
    if SHOTS.is_dir():
        page.mouse.move(0, 0)
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_the_language_follows_the_browser_then_the_switcher_then_the_profile(
    live_server_factory, browser: Browser
) -> None:
    server = live_server_factory(env={"WORKER_ENABLED": "0"})
    email = "ada@example.com"

    # First visit from a Chinese browser: Chinese.
    page = _context_page(browser, "zh-CN")
    page.goto(server.url + "/")
    expect(page.get_by_role("heading", name="图像工作室", level=1)).to_be_visible()
    _shot(page, "sign-in-zh-1280")

    # Typed, not submitted; switching keeps it and redraws in English.
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="登录"))
    form.get_by_label("邮箱").fill(email)
    _switch_language(page, "English")
    expect(page.get_by_role("heading", name="Image Studio", level=1)).to_be_visible()
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Sign in"))
    expect(form.get_by_label("Email")).to_have_value(email)

    # Sign up in English (the first account: an admin) and pick the Admin page's Users
    # section; then choose Chinese while signed in: stored in the profile, and the section
    # (an option whose label changed language) stays chosen.
    sign_up(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()
    open_page(page, "Admin")
    main = page.get_by_test_id("stMain")
    main.get_by_test_id("stRadio").get_by_text("Users", exact=True).click()
    expect(main.get_by_role("heading", name="Users", level=3)).to_be_visible()
    _switch_language(page, "简体中文")
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_role("link", name="账户")).to_be_visible()
    expect(main.get_by_role("heading", name="用户", level=3)).to_be_visible()
    # The browser shows the choices under their new labels (not the old ones, nor none).
    expect(main.get_by_role("radio", name="用户", exact=True)).to_be_checked()
    expect(main.get_by_role("combobox", name="角色")).to_have_value("管理员")
    _shot(page, "admin-users-after-switch-zh-1280")

    # A reload starts a new Streamlit session: the profile's language comes back.
    page.reload()
    expect(page.get_by_test_id("stSidebarNav").get_by_role("link", name="账户")).to_be_visible()
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="账户").click()
    expect(page.get_by_role("heading", name="账户", level=1)).to_be_visible()
    _shot(page, "account-zh-1280")
    page.context.close()

    # Another device with an English browser: signing in brings the profile's Chinese.
    other = _context_page(browser, "en-US")
    other.goto(server.url + "/")
    expect(other.get_by_role("heading", name="Image Studio", level=1)).to_be_visible()
    sign_in(other, email, PASSWORD)
    expect(signed_in_marker(other, email)).to_be_visible()
    other_nav = other.get_by_test_id("stSidebarNav")
    expect(other_nav.get_by_role("link", name="账户")).to_be_visible()
    expect(other.get_by_test_id("stSidebar").get_by_text("当前登录")).to_be_visible()
    expect(other.get_by_test_id("stSidebar").get_by_text(re.compile("Signed in as"))).to_have_count(
        0
    )

    # Back to English from Chinese: the chosen section (label "用户") stays chosen.
    open_page(other, "管理")
    other_main = other.get_by_test_id("stMain")
    other_main.get_by_test_id("stRadio").get_by_text("用户", exact=True).click()
    expect(other_main.get_by_role("heading", name="用户", level=3)).to_be_visible()
    _switch_language(other, "English")
    expect(other_main.get_by_role("heading", name="Users", level=3)).to_be_visible()
    expect(other_main.get_by_role("radio", name="Users", exact=True)).to_be_checked()
    expect(other_main.get_by_role("combobox", name="Role")).to_have_value("admin")
    expect(other.get_by_role("heading", name="Admin", level=1)).to_be_visible()
    other.context.close()
