"""OpenAI edits through the real SDK against the wire-level fake: the multipart the fake parses
holds the source first, the references after it (repeated `image[]`), and the mask converted to
OpenAI's convention (alpha 0 = change); references without an edit go to the same endpoint."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from core.providers import masks
from core.providers.base import GenerationRequest, InvalidRequest
from core.providers.masks import openai_mask
from core.providers.openai import OpenAIProvider, estimate_cost
from tests.fakes.http_server import make_png
from tests.fakes.openai_server import USAGE, FakeOpenAI


def internal_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    img = Image.new("L", size, 0)
    img.paste(255, box)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_a_masked_edit_sends_the_source_and_an_alpha_mask(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    source = make_png(30, 20, seed=11)
    result = openai_provider.edit(
        GenerationRequest(
            model="gpt-image-2",
            prompt="a hat on the cat",
            input_image=source,
            input_mime="image/png",
            mask=internal_mask((30, 20), (5, 5, 15, 10)),
        )
    )
    [call] = fake_openai.edits()
    parts = call.file_parts()
    assert [(p[0], p[1], p[2]) for p in parts] == [
        ("image", "source.png", "image/png"),
        ("mask", "mask.png", "image/png"),
    ]
    assert parts[0][3] == source
    with Image.open(io.BytesIO(parts[1][3])) as sent:
        assert sent.mode == "RGBA" and sent.size == (30, 20)
        alpha = sent.getchannel("A")
        assert alpha.getpixel((6, 6)) == 0  # inside the painted box: change
        assert alpha.getpixel((0, 0)) == 255 and alpha.getpixel((29, 19)) == 255
        assert sum(1 for v in alpha.getdata() if v == 0) == 10 * 5
    assert "input_fidelity" not in call.form()  # gpt-image-2: omit it
    # edits are priced like generations, image input tokens included
    assert result.meta["estimated_cost_usd"] == estimate_cost("gpt-image-2", None, USAGE)
    assert USAGE["input_tokens_details"]["image_tokens"] > 0


def test_several_images_go_as_repeated_image_parts_the_source_first(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    source, ref1, ref2 = make_png(8, 8, seed=1), make_png(9, 9, seed=2), make_png(7, 7, seed=3)
    openai_provider.edit(
        GenerationRequest(
            model="gpt-image-2.6-sunburst",
            prompt="the cat wearing this hat, in this style",
            input_image=source,
            input_mime="image/png",
            references=((ref1, "image/png"), (ref2, "image/png")),
        )
    )
    [call] = fake_openai.edits()
    parts = call.file_parts()
    assert [p[0] for p in parts] == ["image[]", "image[]", "image[]"]
    assert [p[3] for p in parts] == [source, ref1, ref2]


def test_reference_images_without_an_edit_use_the_edits_endpoint_without_a_mask(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    ref = make_png(12, 12, seed=5)
    openai_provider.generate(
        GenerationRequest(
            model="gpt-image-2", prompt="a poster in this style", references=((ref, "image/png"),)
        )
    )
    assert fake_openai.generations() == []
    [call] = fake_openai.edits()
    assert call.file_parts() == [("image", "source.png", "image/png", ref)]


def test_input_fidelity_is_sent_only_where_the_model_takes_it(
    openai_provider: OpenAIProvider, fake_openai: FakeOpenAI
) -> None:
    # gpt-image-1.5 (the one model the SDK documents `high` for) may already be shut down by
    # the catalogue date; the adapter call itself is what is tested here.
    openai_provider.edit(
        GenerationRequest(
            model="gpt-image-1.5", prompt="sharper", input_image=make_png(), input_mime="image/png"
        )
    )
    assert fake_openai.edits()[0].form()["input_fidelity"] == "high"


def test_the_mask_conversion_is_exact_and_refuses_4_mb(monkeypatch):
    mask = internal_mask((4, 2), (0, 0, 2, 1))
    with Image.open(io.BytesIO(openai_mask(mask))) as out:
        assert list(out.getchannel("A").getdata()) == [0, 0, 255, 255, 255, 255, 255, 255]
    noisy = Image.effect_noise((300, 300), 120).point(lambda v: 255 if v > 128 else 0)
    buf = io.BytesIO()
    noisy.save(buf, format="PNG")
    size = len(openai_mask(buf.getvalue()))
    monkeypatch.setattr(masks, "OPENAI_MASK_MAX_BYTES", size)  # the cap, scaled down
    with pytest.raises(InvalidRequest, match="4 MB"):
        openai_mask(buf.getvalue())
