"""Gemini edits through google-genai against the wire-level fake: the image parts beside the
text, the mask sent as a painted hint image (Gemini has no mask field) with words saying so,
and reference images as further inline parts."""

from __future__ import annotations

import io

from PIL import Image

from core.providers.base import GenerationRequest
from core.providers.gemini import MASK_HINT, GeminiProvider
from tests.fakes.gemini_server import FakeGemini


def png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def internal_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> bytes:
    img = Image.new("L", size, 0)
    img.paste(255, box)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_a_masked_edit_sends_the_source_then_a_hint_with_the_area_painted(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    source = png((20, 10), (0, 0, 255))
    gemini_provider.edit(
        GenerationRequest(
            model="gemini-3-pro-image",
            prompt="a moon",
            input_image=source,
            input_mime="image/png",
            mask=internal_mask((20, 10), (0, 0, 5, 5)),
        )
    )
    [call] = fake_gemini.generate_calls()
    parts = call.json()["contents"][0]["parts"]
    assert parts[0]["text"] == f"a moon\n\n{MASK_HINT}"
    sent_source, hint = FakeGemini.inline_images(call)
    assert sent_source == source
    with Image.open(io.BytesIO(hint)) as img:
        rgb = img.convert("RGB")
        assert rgb.size == (20, 10)
        inside, outside = rgb.getpixel((2, 2)), rgb.getpixel((10, 8))
    assert outside == (0, 0, 255)  # untouched outside the mask
    assert inside[0] > 100 and inside[2] < 255  # tinted red inside


def test_references_go_as_further_inline_parts_after_the_prompt(
    gemini_provider: GeminiProvider, fake_gemini: FakeGemini
) -> None:
    refs = ((png((4, 4), (1, 2, 3)), "image/png"), (png((5, 5), (9, 9, 9)), "image/png"))
    gemini_provider.generate(
        GenerationRequest(model="gemini-nano-banana-2.1", prompt="in this style", references=refs)
    )
    [call] = fake_gemini.generate_calls()
    parts = call.json()["contents"][0]["parts"]
    assert parts[0]["text"] == "in this style" and len(parts) == 3
    assert FakeGemini.inline_images(call) == [r[0] for r in refs]
