"""Favourites and selections in a real browser (issue 12), at desktop and phone sizes: star a
tile (the star is above the tile's stretched open button, so it stars and does not open), filter
by favourites, select two images, download them as one zip (opened here: its entries are the two
images and jobs.json), then delete them together."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.constants import PASSWORD
from tests.e2e.helpers import generate, open_page, settle, sign_up

SHOTS = Path(os.environ.get("FAV_SHOTS", "/tmp/shots/fav"))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    settle(page)
    page.wait_for_timeout(400)
    width = page.viewport_size["width"] if page.viewport_size else 0
    page.screenshot(path=str(SHOTS / f"{name}-{width}.png"))


def favourites_filter(page: Page) -> None:
    """Flip "Show only favourites" in the Filters section (opened first if it is closed)."""
    main = page.get_by_test_id("stMain")
    only = main.get_by_text("Show only favourites")
    for _ in range(3):  # a click that lands during a redraw is lost
        settle(page)
        if only.is_visible():
            break
        main.get_by_text("Filters", exact=True).click()
    only.click()


def test_star_filter_select_zip_and_delete(live_server_factory, sized_page: Page, tmp_path) -> None:
    page = sized_page
    server = live_server_factory()
    page.goto(server.url + "/")
    sign_up(page, "ada@example.com", PASSWORD)
    generate(page, "a red fox", count=1)
    generate(page, "a white owl", count=2)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stImage")).to_have_count(3)
    if page.viewport_size and page.viewport_size["width"] < 640:
        page.get_by_test_id("stExpandSidebarButton").click()
    open_page(page, "History")
    expect(main.get_by_test_id("stImage")).to_have_count(3)

    # Star a tile: it stars, it does not open the lightbox.
    starred = main.get_by_role("button", name="Remove a red fox from favourites")
    for _ in range(3):  # a click that lands during a redraw is lost
        settle(page)
        if starred.count():
            break
        try:
            main.get_by_role("button", name="Add a red fox to favourites").click(timeout=10_000)
        except PlaywrightTimeout:  # covered while the live view redraws: try again
            continue
    expect(starred).to_be_visible()
    assert "job=" not in page.url
    shot(page, "history-starred")

    # Filter by favourites: only the fox, and the filter is in the URL.
    favourites_filter(page)
    expect(main.get_by_test_id("stImage")).to_have_count(1)
    assert "hist_starred" in page.url
    favourites_filter(page)
    expect(main.get_by_test_id("stImage")).to_have_count(3)

    # Select the two owls, download them as one zip and open it.
    main.get_by_text("Select images").click()
    for name in ("Select a white owl (1 of 2)", "Select a white owl (2 of 2)"):
        box = main.get_by_role("checkbox", name=name)
        for _ in range(3):  # a click that lands during a redraw is lost
            settle(page)
            if box.is_checked():
                break
            box.click(force=True)
        settle(page)
        expect(box).to_be_checked()
    expect(main.get_by_text("2 images selected.")).to_be_visible()
    shot(page, "history-selection")
    with page.expect_download() as info:
        main.get_by_role("button", name="Download the selection as a zip").click()
    path = tmp_path / "selection.zip"
    info.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        assert names[0] == "jobs.json" and len(names) == 3
        assert all(n.startswith("images/") and n.endswith(".png") for n in names[1:])
        records = json.loads(archive.read("jobs.json"))
        assert [r["prompt"] for r in records] == ["a white owl", "a white owl"]
        assert all(archive.read(n)[:8] == b"\x89PNG\r\n\x1a\n" for n in names[1:])

    # Delete them together.
    main.get_by_role("button", name="Delete the selection").click()
    page.get_by_role("button", name="Yes, delete them").click()
    expect(main.get_by_text("Deleted 2 images.")).to_be_visible()
    expect(main.get_by_test_id("stImage")).to_have_count(1)
    shot(page, "history-deleted")
