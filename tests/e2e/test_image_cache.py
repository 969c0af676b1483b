"""Images are loaded by the browser from signed URLs that stay the same while they are valid,
with cache headers: a rerun of History downloads no thumbnail again (the browser's network log
shows no image request), and the Download button fetches nothing until it is clicked."""

from __future__ import annotations

import re

from playwright.sync_api import Page, Request, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import generate, open_page, sign_up, signed_in_marker

IMAGE_PATHS = ("/api/files/", "/media/")


def test_a_rerun_of_history_downloads_no_image_again(live_server_factory, page: Page) -> None:
    server = live_server_factory(env={"DEMO_LATENCY_MS": "0"})
    page.goto(server.url + "/")
    sign_up(page, "ada@example.com", PASSWORD)
    expect(signed_in_marker(page, "ada@example.com")).to_be_visible()
    # Generate's results feed shows the same thumbnails, from the same signed URLs, as History:
    # whichever page loads them first fetches them, the other one finds them in the cache.
    responses = []
    page.on("response", lambda r: responses.append(r) if "/api/files/" in r.url else None)
    generate(page, "A lighthouse on a cliff at dawn", count=2)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_text(re.compile(r"Done$"))).to_have_count(2, timeout=30_000)

    open_page(page, "History")
    expect(main.locator("img")).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stMain\"] img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    # The thumbnails come from signed /api/files URLs, cacheable while the URL is valid.
    assert responses, "the thumbnails are loaded from their signed URLs"
    assert all(r.headers["cache-control"].startswith("private, max-age=") for r in responses)

    requested: list[Request] = []
    page.on("request", lambda r: requested.append(r))
    page.get_by_role("heading", name="History", level=1).click()
    page.keyboard.press("r")  # Streamlit reruns the page
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=30_000)
    expect(main.locator("img")).to_have_count(2)
    page.wait_for_timeout(1000)  # anything the redraw would load has been asked for by now
    images = [r.url for r in requested if any(p in r.url for p in IMAGE_PATHS)]
    assert images == []
