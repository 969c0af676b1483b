"""Generate's form keeps what was chosen and submitted (prompt, provider, model, an option)
across a visit to History and back (persist_state="session" on its widgets), also when the
results feed's live fragment ran last; a language switch keeps what was typed."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import choose, open_page, settle, sign_up, signed_in_marker

PROMPT = "A red kite over a snowy ridge"
POSTER = "Demo poster (can edit)"
DEMO = "Demo (offline, no AI)"

# Every rerun here may wait behind other work on a busy machine (no timing is asserted): expect()
# waits up to 20 s, as tests/e2e/conftest.py sets it for every e2e test on main.
expect.set_options(timeout=20_000)


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
    # A full page load (the cookie hand-off): slow on a busy machine.
    expect(signed_in_marker(page, "kite@example.com")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()


def _prompt(page: Page) -> Locator:
    return page.get_by_test_id("stForm").get_by_role("textbox", name=re.compile("^(Prompt|提示词)"))


def _box(page: Page, label: str) -> Locator:
    return page.get_by_test_id("stMain").get_by_role("combobox", name=label)


def _pick(page: Page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label` (and wait for the rerun)."""
    choose(page, _box(page, label), option)
    settle(page)


def _there_and_back(page: Page) -> None:
    open_page(page, "History")
    settle(page)
    open_page(page, "Generate")
    settle(page)


@pytest.mark.parametrize("submit", [False, True], ids=["never_submitted", "submitted"])
def test_generate_form_survives_a_visit_to_history(
    live_server_factory, wide_page: Page, submit: bool
) -> None:
    """Submitted, the feed is live until the image is done: its last fragment run comes right
    before the visit (the case that lost the prompt). Never submitted, the form's fields are
    still only in the browser (an st.form sends nothing before its submit): what is checked
    then is the provider and model, picked outside the form."""
    page = wide_page
    _signed_up(live_server_factory, page)
    _pick(page, "Model", POSTER)
    _open_options(page)
    _pick(page, "Style", "rings")
    _prompt(page).fill(PROMPT)
    if submit:
        page.get_by_test_id("stForm").get_by_role("button", name="Generate").click()
        done = page.get_by_test_id("stMain").get_by_text(re.compile(r"Done$"))
        expect(done).to_have_count(1, timeout=30_000)
    settle(page)

    for _ in range(2):  # twice: nothing wears off
        _there_and_back(page)
        expect(_box(page, "Provider")).to_have_value(DEMO)
        expect(_box(page, "Model")).to_have_value(POSTER)
        if submit:
            expect(_prompt(page)).to_have_value(PROMPT)
            _open_options(page)
            expect(_box(page, "Style")).to_have_value("rings")


def test_a_language_switch_keeps_what_was_typed(live_server_factory, wide_page: Page) -> None:
    """Issue 14: switching language re-renders in place without losing form input (typed,
    not submitted) or the picked model; so does picking a model while a prompt is typed."""
    page = wide_page
    _signed_up(live_server_factory, page)
    _prompt(page).fill(PROMPT)
    _pick(page, "Model", POSTER)  # a rerun of the page while the prompt is being typed
    expect(_prompt(page)).to_have_value(PROMPT)
    _switch_language(page, "简体中文")
    expect(page.get_by_role("heading", name="生成", level=1)).to_be_visible()
    settle(page)
    expect(_prompt(page)).to_have_value(PROMPT)
    _switch_language(page, "English")
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
    settle(page)
    expect(_prompt(page)).to_have_value(PROMPT)
    expect(_box(page, "Model")).to_have_value(POSTER)


def _open_options(page: Page) -> None:
    """Open the form's collapsed Options section (a fresh draw of the page closes it)."""
    options = page.get_by_test_id("stForm").get_by_test_id("stExpander")
    if options.locator("details[open]").count() == 0:
        options.get_by_text("Options").click()
    expect(_box(page, "Style")).to_be_visible()


def _switch_language(page: Page, name: str) -> None:
    choose(page, page.get_by_test_id("stSidebar").get_by_role("combobox"), name)
