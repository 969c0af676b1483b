"""Generate's form keeps what was typed (prompt, model, an option) across a visit to History
and back, whether or not the form was submitted (the router's widgets.keep_form_state)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.constants import PASSWORD
from tests.e2e.helpers import open_page, settle, sign_up, signed_in_marker

PROMPT = "A red kite over a snowy ridge"


@pytest.fixture
def wide_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()


def _signed_up(live_server_factory, page: Page) -> None:
    server = live_server_factory(env={"DEMO_LATENCY_MS": "300"})
    page.goto(server.url + "/")
    sign_up(page, "kite@example.com", PASSWORD)
    expect(signed_in_marker(page, "kite@example.com")).to_be_visible()
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()


def _prompt(page: Page) -> Locator:
    return page.get_by_test_id("stForm").get_by_role("textbox", name=re.compile("^Prompt"))


def _box(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stMain").get_by_role("combobox", name=label)


def _pick(page: Page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label` (and wait for the rerun)."""
    box = _box(page, label)
    for _ in range(5):  # a rerun that lands while the list is open closes it again
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=3_000)
            break
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    expect(box).to_have_value(option)
    settle(page)


def _there_and_back(page: Page) -> None:
    open_page(page, "History")
    settle(page)
    open_page(page, "Generate")
    settle(page)


@pytest.mark.parametrize("submit", [False, True], ids=["typed", "submitted"])
def test_generate_form_survives_a_visit_to_history(
    live_server_factory, wide_page: Page, submit: bool
) -> None:
    page = wide_page
    _signed_up(live_server_factory, page)
    _pick(page, "Model", "Demo poster (can edit)")
    form = page.get_by_test_id("stForm")
    form.get_by_text("Options").click()  # the options expander
    _pick(page, "Style", "rings")
    _prompt(page).fill(PROMPT)
    if submit:
        form.get_by_role("button", name="Generate").click()
        expect(page.get_by_test_id("stMain").get_by_text(re.compile(r"Done$"))).to_have_count(
            1, timeout=30_000
        )
        settle(page)
    else:
        _prompt(page).press("Tab")  # typed, never submitted: the browser still has it
        settle(page)

    _there_and_back(page)
    _expect_kept(page)
    _there_and_back(page)  # twice: nothing wears off
    _expect_kept(page)


def _expect_kept(page: Page) -> None:
    expect(_prompt(page)).to_have_value(PROMPT)
    expect(_box(page, "Model")).to_have_value("Demo poster (can edit)")
    page.get_by_test_id("stForm").get_by_text("Options").click()
    expect(_box(page, "Style")).to_have_value("rings")
