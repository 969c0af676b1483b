"""axe-core (axe-playwright-python) on every page in Chromium, at desktop and phone sizes:
sign-in, Generate with a finished batch, History, the lightbox, Review, the image opened for
review, Admin and Account have no serious or critical violation (WCAG AA contrast, names,
roles, labels...)."""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import generate, open_page, open_tile, sign_up

BLOCKING = ("serious", "critical")


def violations(page: Page, axe: Axe) -> list[str]:
    """The serious and critical violations on the page as it is now, one line each."""
    expect(page.get_by_test_id("stStatusWidget")).to_have_count(0)  # the rerun has finished
    page.wait_for_timeout(300)
    found = axe.run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
        for v in found
        if v.get("impact") in BLOCKING
    ]


def go(page: Page, title: str) -> None:
    sidebar = page.get_by_test_id("stSidebar")
    phone = sidebar.get_attribute("data-collapsed") == "true"
    if phone:  # open the menu first; it closes itself after the page change
        page.get_by_test_id("stExpandSidebarButton").click()
        expect(sidebar).to_have_attribute("data-collapsed", "false")
    open_page(page, title)
    if phone:
        expect(sidebar).to_have_attribute("data-collapsed", "true")


def test_every_page_has_no_serious_or_critical_axe_violation(
    live_server_factory, sized_page: Page
) -> None:
    page = sized_page
    axe = Axe()
    server = live_server_factory()
    page.goto(server.url + "/")
    expect(page.get_by_role("tab", name="Create account")).to_be_visible()
    found = {"sign-in": violations(page, axe)}
    sign_up(page, "owner@example.com", PASSWORD)  # the first account: admin, every page
    generate(page, "A lighthouse on a cliff at dawn", count=2)
    main = page.get_by_test_id("stMain")
    expect(main.get_by_test_id("stImage")).to_have_count(2)
    found["generate"] = violations(page, axe)
    for title in ("History", "Review", "Admin", "Account"):
        go(page, title)
        found[title.lower()] = violations(page, axe)
    go(page, "History")
    open_tile(page, main.locator("[class*='st-key-tile_']").first)
    expect(page.get_by_role("dialog")).to_be_visible()
    found["lightbox"] = violations(page, axe)
    page.keyboard.press("Escape")
    go(page, "Review")
    open_tile(page, main.locator("[class*='st-key-tile_']").first)
    expect(page.get_by_role("dialog").get_by_role("button", name="Approve")).to_be_visible()
    found["review image"] = violations(page, axe)
    assert {name: v for name, v in found.items() if v} == {}
