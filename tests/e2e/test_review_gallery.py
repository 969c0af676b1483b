"""Review's gallery in a real browser at desktop (1400×900) and phone (390×844) sizes: a tile
click opens the image with its URL, ←/→ move, a decision opens the next one, a reload keeps
the open image and Back returns to the grid; a /review?job=… link sent to a signed-out
reviewer lands on that image after signing in."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from core.domain.models import Job
from tests.admin.conftest import Deployment
from tests.constants import PASSWORD
from tests.e2e.helpers import (
    JOB_URL,
    SIZES,
    open_page,
    open_tile,
    press_until_url,
    settle,
    sign_in,
    signed_in_marker,
)
from tests.e2e.test_review_admin import seeded

PROMPTS = ("a heron at dawn", "a fox in snow", "a whale at dusk")


@pytest.fixture(params=sorted(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


def queue(tmp_path: Path) -> tuple[Deployment, list[Job]]:
    """Three finished images of alice, oldest first in the review queue."""
    dep = seeded(tmp_path)
    jobs = [dep.finished(dep.alice, 1, prompt=prompt)[0] for prompt in PROMPTS]
    for hours, job in zip((3, 2, 1), jobs, strict=True):
        dep.backdate([job.id], timedelta(hours=hours))
    dep.backend.close()
    return dep, jobs


def reviewer_page(browser: Browser, url: str, email: str, size: tuple[int, int]) -> Page:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(url + "/")
    sign_in(page, email, PASSWORD)
    expect(signed_in_marker(page, email)).to_have_count(1)
    return page


def shows(dialog: Locator, prompt: str) -> None:
    """The opened image's details name its prompt (the dialog may take a while to draw on a
    loaded machine)."""
    expect(dialog.locator("code", has_text=prompt)).to_be_visible(timeout=20_000)


def job_url(job: Job) -> Callable[[str], bool]:
    return lambda url: f"job={job.id}" in url


def test_the_review_gallery_opens_moves_decides_and_keeps_its_url(
    live_server_factory, browser: Browser, tmp_path: Path, size: tuple[int, int]
) -> None:
    dep, (heron, fox, whale) = queue(tmp_path)
    server = live_server_factory(data_dir=dep.settings.data_dir)
    page = reviewer_page(browser, server.url, dep.reviewer.email, size)
    if size[0] < 640:
        page.get_by_test_id("stExpandSidebarButton").click()
    open_page(page, "Review")
    main = page.get_by_test_id("stMain")
    tiles = main.locator("[class*='st-key-tile_']")
    expect(tiles).to_have_count(3)
    expect(tiles.get_by_test_id("stImage")).to_have_count(3)
    expect(tiles.first.get_by_text(dep.alice.email)).to_be_visible()  # whose image it is
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"
    grid_url = page.url

    # A tile opens its image with its own URL; Back returns to the grid.
    open_tile(page, main.locator(f".st-key-tile_{heron.id}"))
    dialog = page.get_by_role("dialog")
    shows(dialog, PROMPTS[0])
    page.go_back()
    expect(page).not_to_have_url(JOB_URL, timeout=15_000)
    expect(dialog).to_have_count(0)
    expect(tiles).to_have_count(3)
    assert page.url == grid_url

    # → and ← move through the grid.
    open_tile(page, main.locator(f".st-key-tile_{heron.id}"))
    press_until_url(page, "ArrowRight", job_url(fox))
    shows(dialog, PROMPTS[1])
    press_until_url(page, "ArrowLeft", job_url(heron))
    shows(dialog, PROMPTS[0])

    # A reload lands on the same image.
    page.reload()
    shows(page.get_by_role("dialog"), PROMPTS[0])

    # A decision: the next image opens, the decided one leaves the unreviewed queue.
    settle(page)
    dialog.get_by_label("Note (optional)").fill("crisp")
    dialog.get_by_role("button", name="Approve").click()
    page.wait_for_url(job_url(fox))
    expect(dialog.get_by_text("1 image approved.")).to_be_visible()
    shows(dialog, PROMPTS[1])
    settle(page)
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(page).not_to_have_url(JOB_URL, timeout=15_000)
    expect(tiles).to_have_count(2)
    expect(main.locator(f".st-key-tile_{whale.id}")).to_have_count(1)


def test_a_review_link_lands_on_the_image_after_signing_in(
    live_server_factory, browser: Browser, tmp_path: Path
) -> None:
    dep, (_heron, fox, _whale) = queue(tmp_path)
    server = live_server_factory(data_dir=dep.settings.data_dir)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(f"{server.url}/review?job={fox.id}")  # a link another reviewer sent
    sign_in(page, dep.reviewer.email, PASSWORD)
    expect(signed_in_marker(page, dep.reviewer.email)).to_have_count(1)
    expect(page).to_have_url(re.compile(rf"/review\?(.*&)?job={fox.id}"))
    dialog = page.get_by_role("dialog")
    shows(dialog, PROMPTS[1])
    expect(dialog.get_by_role("button", name="Approve")).to_be_visible()
    context.close()
