"""The app still renders and works in a real browser with the security headers on: the page and
its websocket carry them, nothing is refused by the browser, and signing up works."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from core.web.security import SECURITY_HEADERS
from tests.e2e.helpers import SIGNED_OUT_TEXT, sign_up, signed_in_marker
from tests.live_server import live_server_factory  # noqa: F401  (fixture)


def test_the_app_renders_and_works_with_the_security_headers(
    page: Page,
    live_server_factory,  # noqa: F811
) -> None:
    server = live_server_factory()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))

    document = page.goto(server.url)
    assert document is not None and document.ok
    headers = document.all_headers()
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name.lower()) == value, name

    expect(page.get_by_text(SIGNED_OUT_TEXT).first).to_be_visible()
    sign_up(page, "browser@example.com", "correct horse battery")
    expect(signed_in_marker(page, "browser@example.com")).to_be_visible()

    assert any(url.endswith("/_stcore/stream") for url in sockets)
    refused = [text for text in console if "Refused to" in text or "Permissions policy" in text]
    assert refused == []
