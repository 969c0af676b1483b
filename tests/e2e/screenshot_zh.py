"""Take the Chinese screenshots of the README.zh-CN (issue 14): Generate with its feed and the
History gallery in 简体中文, from the real app in headless Chromium, at 1280 px (into the
folder given, as zh-CN-generate.png / zh-CN-history.png) and 390 px (zh-CN-*-390.png).

    python -m tests.e2e.screenshot_zh docs/
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.constants import PASSWORD
from tests.e2e.helpers import generate, open_page, settle, sign_up
from tests.e2e.test_language import _switch_language
from tests.live_server import start_live_server

PROMPTS = [
    ("黎明时分悬崖上的灯塔，水彩画", 3),
    ("海边的咖啡馆 [fail:safety]", 1),
    ("雨夜里的红色灯笼", 2),
]
SIZES = {"": 1280, "-390": 390}


def _shot(page: Page, path: Path) -> None:
    settle(page)
    page.mouse.move(0, 0)
    page.wait_for_timeout(800)  # let the images paint
    page.screenshot(path=str(path))


def take(out: Path, sizes: dict[str, int] = SIZES) -> None:
    out.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=30_000)  # a loaded machine: the first page after sign-up is slow
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_live_server(Path(tmp) / "data") as server,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for suffix, width in sizes.items():
            context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto(server.url + "/")
            sign_up(page, f"zh{width}@example.com", PASSWORD)
            main = page.get_by_test_id("stMain")
            for prompt, count in PROMPTS:
                generate(page, prompt, count=count)
            expect(main.get_by_test_id("stImage")).to_have_count(5)
            if width < 640:
                page.get_by_test_id("stExpandSidebarButton").click()
            _switch_language(page, "简体中文")
            expect(page.get_by_role("heading", name="生成", level=1)).to_be_visible()
            if width < 640:
                page.get_by_test_id("stSidebarCollapseButton").click()
            expect(main.get_by_text("最近的图片")).to_be_visible()
            _shot(page, out / f"zh-CN-generate{suffix}.png")
            if width < 640:
                page.get_by_test_id("stExpandSidebarButton").click()
            open_page(page, "历史")
            expect(main.get_by_test_id("stImage")).to_have_count(5)
            _shot(page, out / f"zh-CN-history{suffix}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    wanted = sys.argv[2:]  # "1280" / "390": only these widths
    sizes = {k: w for k, w in SIZES.items() if not wanted or str(w) in wanted}
    take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs"), sizes)
