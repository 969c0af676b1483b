"""Shared fixtures and the tier markers. Each test tier keeps its own fixtures in its folder's
conftest.py; the ones that must exist once per session (the browser) live here, and so does
the hook that marks every test with its folder's tier (`-m "not e2e and not integration"`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from core.domain.settings import Settings
from tests.browser import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

TESTS = Path(__file__).resolve().parent
# Each folder is a tier; its tests carry that marker and no other tier's (pyproject.toml).
TIERS = ("unit", "contract", "providers", "api", "ui", "admin", "integration", "e2e")


@pytest.fixture(autouse=True)
def _apptest_runs_the_router_like_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """app.py starts the server in st.navigation mode (PagesManager.uses_pages_directory =
    False); AppTest re-derives the flag before every run from the pages/ folder and would run
    a file in pages/ straight past the router whenever the page's URL name matches one (the
    signed-out navigation keeps every page's URL). Tests run the app as the server does."""
    from streamlit.runtime.pages_manager import PagesManager

    original = PagesManager.__init__

    def init(self: PagesManager, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


def tier_of(item: pytest.Item) -> str:
    """The tier of a test: the first folder under tests/ of the file it is in."""
    path = item.path.resolve()
    parts = path.relative_to(TESTS).parts if path.is_relative_to(TESTS) else ()
    if len(parts) < 2 or parts[0] not in TIERS:
        raise pytest.UsageError(f"{path}: a test belongs in a tier folder under tests/: {TIERS}")
    return parts[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test with its folder's tier; a test marked with another tier by hand is a
    mistake (it would run, or be left out, with the wrong tier)."""
    misplaced: list[str] = []
    for item in items:
        tier = tier_of(item)
        others = {m.name for m in item.iter_markers() if m.name in TIERS} - {tier}
        if others:
            misplaced.append(f"{item.nodeid}: in tests/{tier}/ but marked {sorted(others)}")
        item.add_marker(tier)
    if misplaced:
        raise pytest.UsageError("tier markers must match folders:\n" + "\n".join(misplaced))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an isolated local deployment in a temp dir, no keys, no network."""
    base = Settings.load(env={}, secrets_path=None)
    return replace(base, data_dir=tmp_path / "data", worker_poll_seconds=0.05)


@pytest.fixture(autouse=True)
def _restore_main_module() -> Iterator[None]:
    """AppTest leaves the last page script as `sys.modules["__main__"]`; a later test that
    spawns processes would make every child re-run that page. Put the real one back."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module, shared by every browser test through this one
    fixture. Playwright's sync API keeps an event loop running on the main thread while it is
    open (one driver per thread; asyncio.run fails meanwhile), so it closes after each module."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium package")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (own cookies) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    yield page
    context.close()
