"""The demo provider: deterministic offline pictures, the options the Generate form shows,
simulated latency and failures."""

from __future__ import annotations

import io
import random
import time

import pytest
from PIL import Image

from core.domain.errors import ValidationError
from core.providers.base import (
    AuthFailed,
    GenerationRequest,
    InvalidRequest,
    ModelUnavailable,
    QuotaExhausted,
    SafetyBlocked,
    Transient,
)
from core.providers.demo import ASPECT_RATIOS, DemoProvider


def req(prompt: str = "a lighthouse at dusk", **params: object) -> GenerationRequest:
    return GenerationRequest(model="demo-pattern", prompt=prompt, params=params)


def test_the_catalogue_offers_options_without_any_key() -> None:
    demo = DemoProvider()
    assert demo.available() and demo.key_setting is None
    assert demo.label == "Demo (offline, no AI)"
    assert [m.id for m in demo.active_models()] == ["demo-pattern", "demo-poster"]
    assert demo.default_model.id == "demo-pattern"
    caps = demo.model("demo-pattern").capabilities
    assert set(caps.aspect_ratios) == {"1:1", "3:2", "2:3", "16:9", "9:16", "4:3", "3:4"}
    assert caps.qualities == ("draft", "standard", "high")
    assert caps.seed and caps.negative_prompt and len(caps.styles) >= 3
    assert demo.model("demo-poster").capabilities.edit
    with pytest.raises(ValidationError):
        demo.validate("demo-pattern", "x", {"background": "transparent"})


def test_the_same_prompt_and_options_draw_the_same_picture() -> None:
    demo = DemoProvider()
    first = demo.generate(req(seed=5, style="stripes"))
    assert demo.generate(req(seed=5, style="stripes")).data == first.data
    assert demo.generate(req(seed=6, style="stripes")).data != first.data
    assert demo.generate(req("another prompt", seed=5, style="stripes")).data != first.data
    assert first.mime == "image/png" and first.data.startswith(b"\x89PNG")
    assert first.meta["seed"] == 5


def test_without_a_seed_the_seed_comes_from_the_prompt_and_is_reported() -> None:
    demo = DemoProvider()
    a, b = demo.generate(req("same")), demo.generate(req("same"))
    assert a.data == b.data and a.meta["seed"] == b.meta["seed"]
    assert demo.generate(req("different")).meta["seed"] != a.meta["seed"]


@pytest.mark.parametrize("aspect", ASPECT_RATIOS)
@pytest.mark.parametrize(
    ("quality", "long_side"), [("draft", 256), ("standard", 512), ("high", 1024)]
)
def test_the_size_follows_aspect_ratio_and_quality(
    aspect: str, quality: str, long_side: int
) -> None:
    image = DemoProvider().generate(req(aspect_ratio=aspect, quality=quality))
    with Image.open(io.BytesIO(image.data)) as img:
        width, height = img.size
    assert (width, height) == (image.meta["width"], image.meta["height"])
    assert max(width, height) == long_side
    w, h = (int(x) for x in aspect.split(":"))
    assert abs(width / height - w / h) < 0.02


def test_the_picture_carries_a_dark_demo_band_on_top_and_the_prompt_below() -> None:
    image = DemoProvider().generate(req("x " * 40, style="mono", quality="draft"))
    with Image.open(io.BytesIO(image.data)) as img:
        rgb = img.convert("RGB")
        top = [rgb.getpixel((x, 2)) for x in range(0, rgb.width, 8)]
        # White text pixels inside the top band: the "DEMO" label.
        band = [rgb.getpixel((x, y)) for x in range(rgb.width) for y in range(4, 40)]
    assert any(sum(p) > 700 for p in band)
    assert all(sum(p) < 3 * 200 for p in top)


def test_drawing_is_cheap_at_draft_and_standard_sizes() -> None:
    demo = DemoProvider()
    demo.generate(req(quality="standard"))  # warm the font cache
    started = time.perf_counter()
    for i in range(10):
        demo.generate(req(f"p{i}", quality="standard"))
    assert (time.perf_counter() - started) / 10 < 0.25  # ~10 ms on an idle core


@pytest.mark.parametrize(
    ("trigger", "kind"),
    [
        ("transient", Transient),
        ("safety", SafetyBlocked),
        ("invalid", InvalidRequest),
        ("auth", AuthFailed),
        ("quota", QuotaExhausted),
        ("model", ModelUnavailable),
    ],
)
def test_prompt_triggers_raise_each_error_kind(trigger: str, kind: type[Exception]) -> None:
    with pytest.raises(kind) as caught:
        DemoProvider().generate(req(f"a cat [fail:{trigger}] on a mat"))
    assert caught.value.message  # type: ignore[attr-defined]
    assert type(caught.value) is kind


def test_a_transient_trigger_can_carry_retry_after_and_a_crash_trigger_is_a_plain_bug() -> None:
    with pytest.raises(Transient) as caught:
        DemoProvider().generate(req("[fail:transient:12.5]"))
    assert caught.value.retry_after == 12.5
    with pytest.raises(RuntimeError):
        DemoProvider().generate(req("[fail:crash]"))


def test_the_fail_rate_simulates_temporary_failures() -> None:
    always = DemoProvider(fail_rate=1.0)
    with pytest.raises(Transient, match=r"^Demo provider simulated a temporary failure\.$"):
        always.generate(req())
    half = DemoProvider(fail_rate=0.5, rng=random.Random(3))
    outcomes = []
    for _ in range(40):
        try:
            half.generate(req(quality="draft"))
            outcomes.append(True)
        except Transient:
            outcomes.append(False)
    assert 8 < outcomes.count(False) < 32


def test_latency_is_simulated() -> None:
    demo = DemoProvider(latency_ms=120)
    started = time.perf_counter()
    demo.generate(req(quality="draft"))
    assert time.perf_counter() - started >= 0.12


def test_an_edit_frames_the_source_and_only_the_poster_model_edits() -> None:
    source = io.BytesIO()
    Image.new("RGB", (200, 200), (250, 20, 20)).save(source, format="PNG")
    demo = DemoProvider()
    edited = demo.edit(
        GenerationRequest(
            model="demo-poster",
            prompt="frame it",
            params={"quality": "draft"},
            input_image=source.getvalue(),
            input_mime="image/png",
        )
    )
    with Image.open(io.BytesIO(edited.data)) as img:
        assert img.convert("RGB").getpixel((128, 128)) == (250, 20, 20)
    with pytest.raises(InvalidRequest):
        demo.edit(  # demo-pattern cannot edit
            GenerationRequest(model="demo-pattern", prompt="x", input_image=source.getvalue())
        )
    with pytest.raises(InvalidRequest, match="source image could not be read"):
        demo.edit(GenerationRequest(model="demo-poster", prompt="x", input_image=b"not an image"))


def test_without_a_seed_each_job_of_a_batch_draws_its_own_picture_and_a_retry_the_same() -> None:
    demo = DemoProvider()

    def draw(job_id: str) -> bytes:
        request = GenerationRequest(model="demo-pattern", prompt="a kite", request_id=job_id)
        return demo.generate(request).data

    first, second = draw("job-1"), draw("job-2")
    assert first != second
    assert draw("job-1") == first


def test_an_edit_keeps_the_source_unobscured_whatever_the_job() -> None:
    source = io.BytesIO()
    Image.new("RGB", (300, 200), (10, 200, 30)).save(source, format="PNG")
    demo = DemoProvider()
    for i in range(40):
        request = GenerationRequest(
            model="demo-poster",
            prompt="frame it",
            params={"quality": "draft"},
            request_id=f"job-{i}",
            input_image=source.getvalue(),
            input_mime="image/png",
        )
        with Image.open(io.BytesIO(demo.edit(request).data)) as result:
            assert result.convert("RGB").getpixel((128, 128)) == (10, 200, 30)
