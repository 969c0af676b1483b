"""A page that polls (st.fragment(run_every=…)) notices, with no click, that its session was
revoked elsewhere and shows sign-in: its timed reruns re-check the session."""

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


def test_a_polling_page_shows_sign_in_once_another_tab_signs_out(
    live_server_factory, page: Page
) -> None:
    server = live_server_factory(env={"WORKER_ENABLED": "0"})  # jobs stay queued: pages poll
    email = "ada@example.com"
    page.goto(server.url + "/")
    sign_up(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_be_visible()
    generate(page, "A kite over the dunes")
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"Queued"))).to_be_visible()

    # A second tab of the same browser (the HttpOnly cookie signs it in), on History: it polls
    # too. The first tab signs out, which revokes the session server-side.
    other = page.context.new_page()
    other.goto(server.url + "/")
    expect(signed_in_marker(other, email)).to_be_visible()
    open_page(other, "History")
    kite = other.get_by_test_id("stMain").get_by_text("A kite over the dunes", exact=True)
    expect(kite).to_be_visible()

    open_page(page, "Account")
    main.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()

    # No click in the other tab: its next timed refresh finds the session gone.
    expect(other.get_by_text(SIGNED_OUT_TEXT).first).to_be_visible(timeout=30_000)
    expect(other.get_by_text("A kite over the dunes")).to_have_count(0)
    expect(other.get_by_test_id("stSidebarNav")).to_have_count(0)
    # The tab kept its address: signing in there opens History again.
    assert other.url.endswith("/history")
    other.wait_for_timeout(1_000)  # a late timer tick of the old grid must not blank the page
    expect(other.get_by_text(SIGNED_OUT_TEXT).first).to_be_visible()
    sign_in(other, email, PASSWORD)
    expect(other.get_by_role("heading", name="History", level=1)).to_be_visible()
    expect(kite).to_be_visible()
