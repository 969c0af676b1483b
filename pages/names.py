"""Provider and model names as a person reads them, in this session's language. The providers'
labels come from core (`Provider.label`, `ModelInfo.label`) in English; most are product names
that stay as they are ("GPT Image 1", "Imagen 4"), but the offline demo provider's labels are the
project's own words, so they have catalogue entries here."""

from __future__ import annotations

from datetime import date

from core.domain.errors import StudioError
from core.providers.base import Provider
from pages.i18n import fmt_day, t

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


# ---- model shutdowns (ModelInfo.shuts_down_on / replacement), in the session's language ----


def picker_label(provider: Provider, model_id: str, today: date) -> str:
    """A model picker's text: the name, and "shuts down on DATE" while a shutdown is ahead
    (core's `ModelInfo.upcoming_shutdown` says the same in English for the API and CLI)."""
    model = provider.model(model_id)
    name = model_label(provider, model_id)
    if model.shuts_down_on is None or model.is_shut_down(today):
        return name
    return t("names.shuts_down_on", model=name, date=fmt_day(model.shuts_down_on))


def shutdown_warning(provider: Provider, model_id: str, today: date) -> str | None:
    """The warning under a picked model whose shutdown is ahead, naming its replacement."""
    model = provider.model(model_id)
    if model.shuts_down_on is None or model.is_shut_down(today):
        return None
    return t(
        "names.shutdown_warning",
        model=model_label(provider, model_id),
        date=fmt_day(model.shuts_down_on),
        replacement=_replacement_name(provider, model.replacement),
    )


def _replacement_name(provider: Provider, model_id: str | None) -> str:
    """The replacement model's name, or its id when the provider does not list it."""
    if not model_id:
        return "—"
    try:
        return model_label(provider, model_id)
    except StudioError:  # not in the provider's catalogue
        return model_id


def switch_notice(provider: Provider, old_id: str, new_id: str) -> str:
    """What a user is told when a request for a shut-down model moves to its replacement
    (core's `ModelInfo.switch_notice` in the session's language)."""
    old = provider.model(old_id)
    return t(
        "names.switched",
        model=old_id,
        date=fmt_day(old.shuts_down_on) if old.shuts_down_on else "—",
        replacement=new_id,
    )


# A model's notes (`ModelInfo.notes`) where they are the project's words about its own demo;
# the real providers' notes (release dates, size limits) stay in core's English for now.
OWN_NOTES: dict[tuple[str, str], str] = {
    ("demo", "demo-pattern"): "names.demo_pattern_notes",
    ("demo", "demo-poster"): "names.demo_poster_notes",
}


def model_notes(provider: Provider, model_id: str) -> str | None:
    key = OWN_NOTES.get((provider.name, model_id))
    return t(key) if key else provider.model(model_id).notes or None
