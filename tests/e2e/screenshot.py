"""Take the README screenshot: the Generate page with finished demo images, from the real app
in headless Chromium.

    python -m tests.e2e.screenshot docs/screenshot-generate.png
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.helpers import generate, sign_up
from tests.live_server import start_live_server

PROMPT = "A lighthouse on a cliff at dawn, watercolor"


def take(out: Path) -> None:
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_live_server(Path(tmp) / "data") as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 980}, device_scale_factor=1)
        page.set_default_timeout(30_000)
        page.goto(server.url + "/")
        sign_up(page, "you@example.com", "correct horse battery")
        generate(page, PROMPT, count=1)
        main = page.get_by_test_id("stMain")
        expect(main.get_by_text(re.compile(r"Done$"))).to_have_count(1)
        expect(main.get_by_test_id("stImage")).to_have_count(1)
        page.get_by_role("heading", name="Generate", level=1).scroll_into_view_if_needed()
        page.mouse.move(0, 0)
        page.wait_for_timeout(500)  # let the images paint
        out.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(out))
        browser.close()


if __name__ == "__main__":
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot-generate.png"))
