"""The gallery in a real browser at desktop (1400×900) and phone (390×844) sizes: Generate's
button on the first screen, the live results feed, the History lightbox opened by clicking the
image, ←/→ and Esc, the job's URL surviving reload and Back, and no horizontal scroll."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import (
    JOB_URL,
    generate,
    open_page,
    open_tile,
    press_until_url,
    settle,
    sign_up,
    signed_in_marker,
)


def in_viewport(page: Page, selector_box: dict[str, float] | None) -> bool:
    assert selector_box is not None
    height = page.viewport_size["height"] if page.viewport_size else 0
    return selector_box["y"] >= 0 and selector_box["y"] + selector_box["height"] <= height


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"


def side_by_side(page: Page, first: Locator, second: Locator) -> None:
    """The two tiles end up on one row (read again while the grid's images are still being
    laid out: a tile whose image has not arrived yet is briefly shorter)."""
    for _ in range(20):
        a, b = first.bounding_box(), second.bounding_box()
        assert a and b
        if abs(a["y"] - b["y"]) < 2 and a["x"] < b["x"]:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"the tiles are not side by side: {a} {b}")


def test_feed_lightbox_keyboard_and_deep_links(live_server_factory, sized_page: Page) -> None:
    page = sized_page
    server = live_server_factory()
    page.goto(server.url + "/")
    sign_up(page, "ada@example.com", PASSWORD)
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
    main = page.get_by_test_id("stMain")

    # The prompt and Generate are on the first screen, without scrolling.
    generate_button = main.get_by_role("button", name="Generate")
    assert in_viewport(page, generate_button.bounding_box())
    assert in_viewport(page, main.get_by_role("textbox", name=re.compile("^Prompt")).bounding_box())
    no_horizontal_scroll(page)

    generate(page, "an old harbour", count=1)
    expect(main.get_by_test_id("stImage")).to_have_count(1)
    generate(page, "a lighthouse at dawn", count=2)
    # Live (no clicks): both batches end up in the feed, newest first.
    expect(main.get_by_test_id("stImage")).to_have_count(3)
    batch = main.locator("[class*='st-key-gen_batch_']").first
    expect(batch.get_by_text("a lighthouse at dawn")).to_be_visible()
    assert in_viewport(page, batch.get_by_text("a lighthouse at dawn").bounding_box())
    no_horizontal_scroll(page)
    page.reload()  # the feed is read from the jobs, so it survives a reload
    expect(signed_in_marker(page, "ada@example.com")).to_have_count(1)
    expect(main.get_by_test_id("stImage")).to_have_count(3)

    if page.viewport_size and page.viewport_size["width"] < 640:
        page.get_by_test_id("stExpandSidebarButton").click()
    open_page(page, "History")
    if page.viewport_size and page.viewport_size["width"] < 640:
        # On a phone the sidebar closes itself after a page change (it overlays the page).
        expect(page.get_by_test_id("stSidebar")).to_have_attribute("data-collapsed", "true")
    tiles = main.locator("[class*='st-key-tile_']")
    expect(tiles).to_have_count(3)
    no_horizontal_scroll(page)
    if page.viewport_size and page.viewport_size["width"] < 640:
        # Two tiles side by side on a phone.
        side_by_side(page, tiles.nth(0), tiles.nth(1))

    expect(tiles.get_by_test_id("stImage")).to_have_count(3)
    open_tile(page, tiles.first)
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text("a lighthouse at dawn")).to_be_visible()
    expect(page).to_have_url(JOB_URL)
    first_url = page.url
    press_until_url(page, "ArrowRight", lambda url: url != first_url and JOB_URL.search(url))
    second_url = page.url
    expect(dialog.get_by_role("button", name="Download")).to_be_visible()
    press_until_url(page, "ArrowLeft", lambda url: url == first_url)
    expect(dialog.get_by_role("button", name="Download")).to_be_visible()
    settle(page)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    # The dialog closes in the browser at once; the rerun that drops ?job= may queue behind
    # another on a loaded machine (two test workers on two cores).
    expect(page).not_to_have_url(JOB_URL, timeout=30_000)
    expect(tiles).to_have_count(3)

    page.go_back()  # Back reopens the job that was open
    expect(page).to_have_url(first_url)
    expect(page.get_by_role("dialog").get_by_text("a lighthouse at dawn")).to_be_visible()
    page.go_back()
    expect(page).to_have_url(second_url)
    page.reload()  # a reload (or the link, shared) lands on the same job
    expect(page.get_by_role("dialog").get_by_role("button", name="Download")).to_be_visible()
    page.goto(second_url)
    expect(page.get_by_role("dialog").get_by_role("button", name="Download")).to_be_visible()
