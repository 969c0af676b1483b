"""Fixtures: each real adapter pointed at its local fake server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.providers.gemini import GeminiProvider
from core.providers.ideogram import IdeogramProvider
from core.providers.openai import OpenAIProvider
from tests.fakes import gemini_server, ideogram_server, openai_server
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.ideogram_server import FakeIdeogram
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def openai_provider(fake_openai: FakeOpenAI) -> OpenAIProvider:
    return OpenAIProvider(api_key=openai_server.API_KEY, base_url=fake_openai.base_url, timeout=5)


@pytest.fixture
def fake_gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def gemini_provider(fake_gemini: FakeGemini) -> GeminiProvider:
    return GeminiProvider(api_key=gemini_server.API_KEY, base_url=fake_gemini.url, timeout=5)


@pytest.fixture
def fake_ideogram() -> Iterator[FakeIdeogram]:
    with FakeIdeogram() as fake:
        yield fake


@pytest.fixture
def ideogram_provider(fake_ideogram: FakeIdeogram) -> IdeogramProvider:
    return IdeogramProvider(api_key=ideogram_server.API_KEY, base_url=fake_ideogram.url, timeout=5)
