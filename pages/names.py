"""Provider and model names as a person reads them, in this session's language. The providers'
labels come from core (`Provider.label`, `ModelInfo.label`) in English; most are product names
that stay as they are ("GPT Image 1", "Imagen 4"), but the offline demo provider's labels are the
project's own words, so they have catalogue entries here."""

from __future__ import annotations

from core.providers.base import Provider
from pages.i18n import t

# (provider name, model id or "" for the provider itself) → catalogue key.
OWN_WORDS: dict[tuple[str, str], str] = {
    ("demo", ""): "names.demo",
    ("demo", "demo-pattern"): "names.demo_pattern",
    ("demo", "demo-poster"): "names.demo_poster",
}


def provider_label(provider: Provider) -> str:
    key = OWN_WORDS.get((provider.name, ""))
    return t(key) if key else provider.label


def model_label(provider: Provider, model_id: str) -> str:
    key = OWN_WORDS.get((provider.name, model_id))
    return t(key) if key else provider.model(model_id).label
