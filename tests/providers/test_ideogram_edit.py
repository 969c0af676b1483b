"""Ideogram edits, variations and references over httpx against the wire-level fake: a masked
edit goes to the v2 inpaint endpoint with our mask turned black = change, an edit without a mask
and a variation to remix with `image_weight`, a reference as the one character reference; the
deprecated v1 edit endpoint is never called."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.domain.errors import ValidationError
from core.providers.base import GenerationRequest, InvalidRequest
from core.providers.ideogram import IdeogramProvider
from tests.fakes.http_server import make_png
from tests.fakes.ideogram_server import DEPRECATED_EDIT, FakeIdeogram


def internal_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    img = Image.new("L", size, 0)
    img.paste(255, box)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_a_masked_edit_inpaints_with_black_marking_the_change(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    source = make_png(20, 10, seed=4)
    result = ideogram_provider.edit(
        GenerationRequest(
            model="ideogram-3.0",
            prompt="a red door",
            params={"quality": "high", "seed": 7, "aspect_ratio": "2:1"},
            input_image=source,
            input_mime="image/png",
            mask=internal_mask((20, 10), (0, 0, 4, 4)),
        )
    )
    assert result.data == fake_ideogram.image
    [call] = fake_ideogram.inpaint_calls()
    assert fake_ideogram.generate_calls() == [] and not fake_ideogram.calls(DEPRECATED_EDIT)
    files = call.files()
    assert files["image"] == ("source.png", "image/png", source)
    with Image.open(io.BytesIO(files["mask"][2])) as mask:
        values = mask.convert("L")
        assert values.size == (20, 10)
        assert values.getpixel((1, 1)) == 0  # change: black
        assert values.getpixel((10, 8)) == 255  # keep: white
        assert set(values.getdata()) == {0, 255}
    form = call.form()
    assert form["prompt"] == "a red door" and form["rendering_speed"] == "QUALITY"
    assert form["seed"] == "7" and "aspect_ratio" not in form  # inpaint keeps the image's size
    assert result.meta["estimated_cost_usd"] == 0.09  # edits are priced like generations


def test_an_edit_without_a_mask_and_a_variation_remix_with_an_image_weight(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    source = make_png(12, 12, seed=2)
    req = GenerationRequest(
        model="ideogram-3.0", prompt="as a watercolour", input_image=source, input_mime="image/png"
    )
    ideogram_provider.edit(req)
    ideogram_provider.vary(GenerationRequest(**{**req.__dict__, "params": {"image_weight": 80}}))
    first, second = fake_ideogram.remix_calls()
    assert first.files()["image"][2] == source and first.form()["image_weight"] == "50"
    assert second.form()["image_weight"] == "80"
    assert fake_ideogram.inpaint_calls() == []


def test_a_reference_goes_as_the_one_character_reference(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    ref = make_png(8, 8, seed=6)
    ideogram_provider.generate(
        GenerationRequest(
            model="ideogram-3.0", prompt="her, at sea", references=((ref, "image/png"),)
        )
    )
    [call] = fake_ideogram.generate_calls()
    assert call.file_parts() == [("character_reference_images", "reference.png", "image/png", ref)]


def test_image_weight_is_checked(ideogram_provider: IdeogramProvider) -> None:
    assert ideogram_provider.validate("ideogram-3.0", "x", {"image_weight": 1}) == {
        "image_weight": 1
    }
    for bad in (0, 101, "50", True, 2.5):
        with pytest.raises(ValidationError, match="image_weight"):
            ideogram_provider.validate("ideogram-3.0", "x", {"image_weight": bad})


def test_an_edit_without_a_source_is_refused_before_any_request(
    ideogram_provider: IdeogramProvider, fake_ideogram: FakeIdeogram
) -> None:
    with pytest.raises(InvalidRequest):
        ideogram_provider.edit(GenerationRequest(model="ideogram-3.0", prompt="x"))
    assert fake_ideogram.requests == []
