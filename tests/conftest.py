"""Shared fixtures. Each test tier keeps its own fixtures in its folder's conftest.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for an isolated local deployment in a temp dir, no keys, no network."""
    base = Settings.load(env={}, secrets_path=None)
    return replace(base, data_dir=tmp_path / "data", worker_poll_seconds=0.05)
