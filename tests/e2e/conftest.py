"""Real headless Chromium (Debian's /usr/bin/chromium) against `streamlit run app.py`. The
`browser` and `page` fixtures are in tests/conftest.py (one browser per session); the `e2e`
marker comes from this folder (tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.helpers import SIZES
from tests.live_server import live_server_factory  # noqa: F401  (fixture)

# Every assertion waits up to 20 s (Playwright's default is 5 s). CI runs two workers, each with
# its own app server and Chromium, on two cores: there a fresh page load after the sign-in
# cookie hand-off has taken more than 5 s. A test that waits longer for a page still fails
# when the page never comes.
expect.set_options(timeout=20_000)


@pytest.fixture(params=sorted(SIZES))
def sized_page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (downloads accepted) at each of SIZES: the test runs once per
    size."""
    width, height = SIZES[request.param]
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()
