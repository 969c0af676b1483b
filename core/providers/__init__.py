"""Provider registry: every adapter registers through the same door."""

from __future__ import annotations

from core.providers.base import Provider
from core.providers.demo import DemoProvider
from core.settings import Settings


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One instance of every known provider, configured from settings (keys, base URLs,
    default models). Providers without a key are present but unavailable."""
    providers: list[Provider] = [
        DemoProvider(latency_ms=settings.demo_latency_ms, fail_rate=settings.demo_fail_rate),
    ]
    return {p.name: p for p in providers}
