"""A person's whole visit in a real browser: sign up, generate, watch, history, reload, sign out."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import (
    SIGNED_OUT_TEXT,
    generate,
    open_page,
    sign_in,
    sign_up,
    signed_in_marker,
)


def test_sign_up_generate_history_reload_and_sign_out(live_server_factory, page: Page) -> None:
    server = live_server_factory(env={"DEMO_LATENCY_MS": "1500"})
    email = "ada@example.com"
    page.goto(server.url + "/")
    sign_up(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()
    sent: list[float] = []  # every message the browser sends to the server
    page.on("websocket", lambda ws: ws.on("framesent", lambda _frame: sent.append(1)))
    page.reload()  # so the listener sees the app's websocket
    expect(signed_in_marker(page, email)).to_be_visible()

    # Two demo images in one batch, shown live (no clicks) until both are done.
    before_submit = len(sent)
    generate(page, "A lighthouse on a cliff at dawn", count=2)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"Queued|Processing"))).not_to_have_count(0)
    expect(main.get_by_text(re.compile(r"Done$"))).to_have_count(2, timeout=30_000)
    expect(main.get_by_test_id("stImage")).to_have_count(2)
    expect(main.get_by_role("button", name="Download")).to_have_count(2)
    assert len(sent) - before_submit >= 2, "the submit plus at least one timed refresh"
    # Once every job is finished the refresh timer stops: the browser goes quiet.
    page.wait_for_timeout(1500)  # the last redraw may still be on its way
    quiet_from = len(sent)
    page.wait_for_timeout(3000)
    assert len(sent) == quiet_from

    open_page(page, "History")
    expect(main.get_by_text("Filters")).to_be_visible()  # collapsed: the gallery comes first
    expect(main.locator("[class*='st-key-hist_open_'] button")).to_have_count(2)
    expect(main.get_by_test_id("stImage")).to_have_count(2)
    expect(main.get_by_text(re.compile(r"^A lighthouse on a cliff at dawn"))).to_have_count(2)
    open_page(page, "Generate")  # the form still holds what was typed
    expect(main.get_by_role("textbox", name=re.compile("^Prompt"))).to_have_value(
        "A lighthouse on a cliff at dawn"
    )
    open_page(page, "History")

    # A reload starts a new Streamlit session: the HttpOnly cookie keeps us signed in.
    cookies = {c["name"]: c for c in page.context.cookies()}
    session_cookie = cookies["studio_session"]
    assert session_cookie["httpOnly"] is True
    assert session_cookie["sameSite"] == "Lax"
    page.reload()
    expect(signed_in_marker(page, email)).to_be_visible()
    expect(page.get_by_text(SIGNED_OUT_TEXT)).to_have_count(0)

    open_page(page, "Account")
    page.get_by_test_id("stMain").get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()
    assert "studio_session" not in {c["name"] for c in page.context.cookies()}
    page.reload()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()
    expect(page.get_by_text(email)).to_have_count(0)

    # The old cookie is dead on the server too: putting it back does not sign anyone in.
    page.context.add_cookies([session_cookie])
    page.reload()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()
    expect(page.get_by_text(email)).to_have_count(0)

    # Signing in again (the sign-in form, not sign-up) also survives a reload.
    sign_in(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()
    page.reload()
    expect(signed_in_marker(page, email)).to_be_visible()


def test_a_plain_user_opening_the_admin_url_gets_the_default_page(
    live_server_factory, page: Page
) -> None:
    server = live_server_factory()
    page.goto(server.url + "/")
    sign_up(page, "owner@example.com", PASSWORD)  # the first account is the admin
    expect(signed_in_marker(page, "owner@example.com")).to_be_visible()
    page.context.clear_cookies()
    page.goto(server.url + "/")
    sign_up(page, "bob@example.com", PASSWORD)
    expect(signed_in_marker(page, "bob@example.com (user)")).to_be_visible()
    for path in ("/admin", "/review"):
        page.goto(server.url + path)
        expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
        nav = page.get_by_test_id("stSidebarNav")
        expect(nav.get_by_role("link", name="History")).to_be_visible()
        expect(nav.get_by_role("link", name="Admin")).to_have_count(0)
        expect(nav.get_by_role("link", name="Review")).to_have_count(0)
        expect(page.get_by_role("heading", name="Admin")).to_have_count(0)
