"""Real headless Chromium (Debian's /usr/bin/chromium) against `streamlit run app.py`. The
`browser` and `page` fixtures are in tests/conftest.py (one browser per session)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.live_server import live_server_factory  # noqa: F401  (fixture)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == Path(__file__).parent:
            item.add_marker(pytest.mark.e2e)
