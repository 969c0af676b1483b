"""The server options in .streamlit/config.toml are ones Streamlit reads, with our values."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from streamlit import config

from tests.constants import REPO_ROOT


@pytest.fixture
def repo_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Streamlit's options as `streamlit run app.py` in the repo parses them."""
    monkeypatch.chdir(REPO_ROOT)
    config.get_config_options(force_reparse=True)
    yield
    monkeypatch.undo()
    config.get_config_options(force_reparse=True)


@pytest.mark.usefixtures("repo_config")
def test_no_forced_full_garbage_collection_after_each_script_run():
    # A forced gc.collect() after every run held the GIL for 260-430 ms: page changes and
    # live ticks of every session waited for it.
    assert config.get_option("runner.postScriptGC") is False


@pytest.mark.usefixtures("repo_config")
def test_the_server_options_stay_as_deployed():
    assert config.get_option("server.headless") is True
    assert config.get_option("server.maxUploadSize") == 20
    assert config.get_option("browser.gatherUsageStats") is False
