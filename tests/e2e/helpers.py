"""Playwright steps shared by the e2e tests. Streamlit draws pages over a websocket: wait for
text, never for URLs or for the app frame alone."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

SIGNED_OUT_TEXT = re.compile(r"You are signed out|Sign in to generate images")
# The two viewports the gallery is tested at (the `sized_page` fixture): desktop and a phone.
SIZES = {"desktop": (1400, 900), "phone": (390, 844)}
JOB_URL = re.compile(r"[?&]job=[0-9a-f-]{36}")  # a gallery job opened in the lightbox


def sign_up(page: Page, email: str, password: str) -> None:
    """Create an account on the sign-in page (the browser ends up signed in)."""
    page.get_by_role("tab", name="Create account").click()
    form = page.get_by_test_id("stForm").filter(
        has=page.get_by_role("button", name="Create account")
    )
    form.get_by_label("Email").fill(email)
    form.get_by_label(re.compile("^Password")).fill(password)
    form.get_by_role("button", name="Create account").click()


def sign_in(page: Page, email: str, password: str) -> None:
    form = page.get_by_test_id("stForm").filter(has=page.get_by_role("button", name="Sign in"))
    form.get_by_label("Email").fill(email)
    form.get_by_role("textbox", name="Password").fill(password)
    form.get_by_role("button", name="Sign in").click()


def signed_in_marker(page: Page, email: str) -> Locator:
    """The sidebar line naming the signed-in user."""
    return page.get_by_test_id("stSidebar").get_by_text(re.compile(re.escape(email)))


def open_page(page: Page, title: str) -> None:
    """Switch page through the sidebar navigation and wait for its title."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def generate(page: Page, prompt: str, *, count: int = 1) -> None:
    """Fill the Generate form with the default (demo) provider and submit it."""
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
    form = page.get_by_test_id("stForm")
    # By role, not label: a role query skips the previous provider's form while Streamlit still
    # keeps it (hidden) in the page during a rerun; a label query matches both.
    form.get_by_role("textbox", name=re.compile("^Prompt")).fill(prompt)
    number = form.get_by_label("Number of images")
    number.fill(str(count))
    number.press("Tab")
    form.get_by_role("button", name="Generate").click()


def click_centre(page: Page, box: dict[str, float] | None) -> None:
    """A click where a person clicks: on the image (the tile's button covers the whole tile)."""
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)


def settle(page: Page) -> None:
    """Wait until Streamlit has finished the rerun a click or key started (its status widget
    says "Running…" meanwhile); a key pressed during a redraw can land on the old page."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)
    page.wait_for_timeout(300)


def open_tile(page: Page, tile: Locator) -> None:
    """Click the tile's image; a click that lands while Streamlit is still redrawing the grid
    (the live view) is lost, so it is made again until the URL names the job."""
    for _ in range(3):
        click_centre(page, tile.get_by_test_id("stImage").bounding_box())
        try:
            page.wait_for_url(JOB_URL, timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError("clicking the tile did not open it")


def press_until_url(page: Page, key: str, wanted: Callable[[str], object]) -> None:
    """Press `key` once the page has settled and wait for the URL it should lead to. A key
    that lands while Streamlit is still redrawing the dialog is lost (the person presses it
    again), so it is pressed again after 5 s without effect: never sooner, so a slow first
    press cannot count twice."""
    for _ in range(3):
        settle(page)
        page.keyboard.press(key)
        try:
            page.wait_for_url(lambda url: bool(wanted(url)), timeout=5_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{key} did not lead to the expected URL; at {page.url}")


def choose(page: Page, box: Locator, option: str) -> None:
    """Pick `option` in the selectbox `box`; a rerun that lands while the list is open closes
    it again, so the click is made again (up to five times)."""
    for _ in range(5):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=3_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    expect(box).to_have_value(option)
