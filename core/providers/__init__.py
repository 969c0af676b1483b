"""Provider registry: every adapter registers through the same door."""

from __future__ import annotations

from core.domain.settings import Settings
from core.providers.base import Provider
from core.providers.demo import DemoProvider


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One instance of every known provider, configured from settings (keys, base URLs,
    default models). Providers without a key are present but unavailable."""
    # Imported here so that `core.providers.base` stays light: the SDKs load once, on demand.
    from core.providers.gemini import GeminiProvider
    from core.providers.ideogram import IdeogramProvider
    from core.providers.openai import OpenAIProvider

    providers: list[Provider] = [
        DemoProvider(latency_ms=settings.demo_latency_ms, fail_rate=settings.demo_fail_rate),
        OpenAIProvider(
            api_key=settings.openai_api_key,
            base_url=settings.openai_base_url,
            default_model=settings.openai_default_model,
        ),
        GeminiProvider(
            api_key=settings.gemini_api_key,
            base_url=settings.gemini_base_url,
            default_model=settings.gemini_default_model,
        ),
        IdeogramProvider(
            api_key=settings.ideogram_api_key,
            base_url=settings.ideogram_base_url,
            default_model=settings.ideogram_default_model,
        ),
    ]
    return {p.name: p for p in providers}
