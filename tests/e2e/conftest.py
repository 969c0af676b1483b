"""Real headless Chromium (Debian's /usr/bin/chromium) against `streamlit run app.py`. The
`browser` and `page` fixtures are in tests/conftest.py (one browser per session); the `e2e`
marker comes from this folder (tests/conftest.py)."""

from __future__ import annotations

from tests.live_server import live_server_factory  # noqa: F401  (fixture)
