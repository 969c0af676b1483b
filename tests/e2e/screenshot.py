"""Take the README screenshots from the real app in headless Chromium: Generate with its
results feed, the History gallery and the lightbox, and Review's queue and an image opened for
review (the first account is the admin; it sees both accounts' images), at 1400×900 (desktop)
and 390×844 (phone).

    python -m tests.e2e.screenshot docs/
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.helpers import SIZES, generate, open_page, open_tile, settle, sign_in, sign_up
from tests.live_server import start_live_server

PROMPTS = [("A lighthouse on a cliff at dawn, watercolor", 4), ("A café by the sea at noon", 2)]


def _shot(page: Page, path: Path) -> None:
    settle(page)
    page.mouse.move(0, 0)
    page.wait_for_timeout(500)  # let the images paint
    page.screenshot(path=str(path))


def take(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_live_server(Path(tmp) / "data") as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for size, (width, height) in SIZES.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            page.goto(server.url + "/")
            sign_up(page, f"{size}@example.com", "correct horse battery")
            main = page.get_by_test_id("stMain")
            total = 0
            for prompt, count in PROMPTS:
                generate(page, prompt, count=count)
                total += count
                expect(main.get_by_test_id("stImage")).to_have_count(total)
            _shot(page, out / f"screenshot-generate-{size}.png")
            if width < 640:
                page.get_by_test_id("stExpandSidebarButton").click()
            open_page(page, "History")
            expect(main.get_by_test_id("stImage")).to_have_count(total)
            _shot(page, out / f"screenshot-history-{size}.png")
            open_tile(page, main.locator("[class*='st-key-tile_']").nth(1))
            expect(
                page.get_by_role("dialog").get_by_role("button", name="Download")
            ).to_be_visible()
            _shot(page, out / f"screenshot-lightbox-{size}.png")
            page.close()
        for size, (width, height) in SIZES.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(30_000)
            page.goto(server.url + "/")
            sign_in(page, "desktop@example.com", "correct horse battery")
            main = page.get_by_test_id("stMain")
            if width < 640:
                page.get_by_test_id("stExpandSidebarButton").click()
            open_page(page, "Review")
            expect(main.get_by_test_id("stImage")).to_have_count(2 * total)
            _shot(page, out / f"screenshot-review-{size}.png")
            open_tile(page, main.locator("[class*='st-key-tile_']").nth(0))
            expect(page.get_by_role("dialog").get_by_role("button", name="Approve")).to_be_visible()
            _shot(page, out / f"screenshot-review-image-{size}.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"))
