"""Model catalogues that age by date: shutdown dates are data, a model retires itself at 00:00
UTC of its shutdown date, and every replacement is a model that still runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import ClassVar

import pytest
import time_machine

from core.domain.errors import ValidationError
from core.providers.base import (
    Capabilities,
    ModelInfo,
    Provider,
    compatible_params,
    utc_today,
)
from core.providers.demo import DemoProvider
from core.providers.gemini import GeminiProvider
from core.providers.ideogram import IdeogramProvider
from core.providers.openai import OpenAIProvider

LAST_SECOND = datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC)
SHUTDOWN_MIDNIGHT = datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC)
OPENAI_SHUTDOWNS = {
    "gpt-image-1.5": "gpt-image-2.6-sunburst",
    "gpt-image-1-mini": "gpt-image-2.6-flare",
    "chatgpt-image-latest": "gpt-image-2.6-sunburst",
}


def catalogues() -> list[Provider]:
    return [OpenAIProvider(), GeminiProvider(), IdeogramProvider(), DemoProvider()]


@pytest.mark.parametrize("provider", catalogues(), ids=lambda p: p.name)
def test_every_replacement_exists_and_runs_when_its_model_shuts_down(provider: Provider) -> None:
    today = utc_today()
    for model in provider.models:
        if model.shuts_down_on is None:
            assert model.replacement is None, f"{model.id} names a replacement but no shutdown"
            continue
        assert model.replacement, f"{model.id} shuts down without naming a replacement"
        replacement = provider.model(model.replacement)  # raises for an unknown id
        assert not replacement.is_shut_down(today), f"{model.id} → retired {replacement.id}"
        # ...and it still runs on the day the model goes, not only today.
        assert not replacement.is_shut_down(model.shuts_down_on), (model.id, replacement.id)
        if model.deprecated_on is not None:
            assert model.deprecated_on < model.shuts_down_on


@pytest.mark.parametrize("provider", catalogues(), ids=lambda p: p.name)
def test_the_catalogue_default_runs_today(provider: Provider) -> None:
    (default,) = [m for m in provider.models if m.default]
    assert default in provider.active_models()
    assert provider.default_model == default


@time_machine.travel(LAST_SECOND, tick=False)
def test_the_day_before_the_openai_shutdown_the_three_models_run_and_are_marked() -> None:
    openai = OpenAIProvider()
    active = {m.id for m in openai.active_models()}
    for model_id in OPENAI_SHUTDOWNS:
        assert model_id in active
        assert openai.validate(model_id, "a fox", {"aspect_ratio": "3:2"}) == {
            "aspect_ratio": "3:2"
        }
        assert openai.model(model_id).upcoming_shutdown(utc_today()) == ("shuts down on 2026-12-01")
        assert openai.successor(model_id).id == model_id


@time_machine.travel(SHUTDOWN_MIDNIGHT, tick=False)
def test_from_midnight_utc_on_2026_12_01_the_three_openai_models_are_retired() -> None:
    openai = OpenAIProvider()
    active = {m.id for m in openai.active_models()}
    for model_id, replacement in OPENAI_SHUTDOWNS.items():
        assert model_id not in active
        with pytest.raises(ValidationError) as refused:
            openai.validate(model_id, "a fox", {})
        assert refused.value.message == f"{model_id} shut down on 2026-12-01; use {replacement}."
        assert openai.successor(model_id).id == replacement
        assert openai.model(model_id).upcoming_shutdown(utc_today()) is None


def test_shut_down_today_per_the_real_clock() -> None:
    """Today's facts (2026-12-01 onwards): what the studio refuses."""
    if utc_today() < date(2026, 12, 1):  # pragma: no cover - the suite runs from that day
        pytest.skip("before the OpenAI shutdown")
    openai = OpenAIProvider()
    retired = {m.id for m in openai.models} - {m.id for m in openai.active_models()}
    assert set(OPENAI_SHUTDOWNS) <= retired
    assert {"gpt-image-1", "dall-e-2", "dall-e-3"} <= retired


class _Chain(DemoProvider):
    """a → b → c, where a and b have shut down: a request for a lands on c."""

    name: ClassVar[str] = "chain"
    models: ClassVar[tuple[ModelInfo, ...]] = (
        ModelInfo(
            "a",
            "A",
            Capabilities(seed=True, styles=("x",)),
            shuts_down_on=date(2026, 1, 1),
            replacement="b",
        ),
        ModelInfo("b", "B", Capabilities(), shuts_down_on=date(2026, 6, 1), replacement="c"),
        ModelInfo("c", "C", Capabilities(styles=("x", "y")), default=True),
    )


@time_machine.travel(datetime(2026, 7, 1, tzinfo=UTC), tick=False)
def test_successor_follows_replacements_until_a_running_model() -> None:
    chain = _Chain()
    assert chain.successor("a").id == "c"
    assert chain.successor("c").id == "c"
    with pytest.raises(ValidationError, match="Unknown"):
        chain.successor("nope")


def test_compatible_params_keeps_only_what_the_new_model_accepts() -> None:
    target = _Chain.models[2]
    params = {"style": "y", "seed": 3, "aspect_ratio": "1:1", "quality": "max", "style_x": 1}
    assert compatible_params(target, params) == {"style": "y", "aspect_ratio": "1:1"}


def test_shuts_down_within_counts_whole_days_ahead_only() -> None:
    model = _Chain.models[1]  # shuts down 2026-06-01
    assert model.shuts_down_within(date(2026, 5, 2), 30)
    assert not model.shuts_down_within(date(2026, 5, 1), 30)
    assert not model.shuts_down_within(date(2026, 6, 1), 30)  # that day it is shut down
