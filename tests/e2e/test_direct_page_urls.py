"""On a freshly started server nobody has run the router yet; a page URL opened directly while
signed out must show nothing of that page (Streamlit 1.67 once served /admin this way)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.helpers import SIGNED_OUT_TEXT

PAGE_TITLES = ("Generate", "History", "Account", "Review", "Admin")
# Text only the pages themselves would draw.
PAGE_TEXT = ("Number of images", "Filters", "API tokens", "Your recent images", "Signed in as")


def _assert_only_sign_in(page: Page) -> None:
    expect(page.get_by_text(SIGNED_OUT_TEXT).first).to_be_visible()
    # Let the script run to its end before looking for what must not be there.
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.wait_for_timeout(500)
    main = page.get_by_test_id("stMain")
    for title in PAGE_TITLES:
        expect(main.get_by_role("heading", name=title, exact=True)).to_have_count(0)
    for text in PAGE_TEXT:
        expect(page.get_by_text(text)).to_have_count(0)
    expect(page.get_by_test_id("stSidebarNav")).to_have_count(0)


@pytest.mark.parametrize("first", ["/admin", "/history"])
def test_a_page_url_opened_first_on_a_fresh_server_shows_only_sign_in(
    live_server_factory, page: Page, first: str
) -> None:
    server = live_server_factory()
    page.goto(server.url + first)
    _assert_only_sign_in(page)
    for path in ("/account", "/generate", "/review", "/history", "/admin", "/widgets"):
        page.goto(server.url + path)
        _assert_only_sign_in(page)
