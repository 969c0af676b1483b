"""Demo pictures draw any Unicode prompt legibly (issue 12): a CJK-capable font, and a name in
place of anything it has no glyph for, never an empty box."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from core.providers import demo_text
from core.providers.base import GenerationRequest
from core.providers.demo import DemoProvider, _label


@pytest.mark.parametrize("char", ["é", "ß", "Ж", "λ", "东", "京", "夜", "の", "한"])
def test_the_font_has_glyphs_for_accents_and_cjk(char: str) -> None:
    assert demo_text.has_glyph(char)


def test_a_character_without_a_glyph_is_written_by_name_not_as_a_box() -> None:
    assert not demo_text.has_glyph("🌸")
    assert demo_text.drawable("a café 夜の東京 🌸") == "a café 夜の東京 (cherry blossom)"
    # An emoji with a variation selector and a joiner: the parts are dropped, the names kept.
    assert demo_text.drawable("❤️") in ("❤", "(heavy black heart)")
    text = demo_text.drawable("👩‍💻")
    assert "\u200d" not in text and "(woman)" in text and "(personal computer)" in text
    assert all(demo_text.has_glyph(c) for c in text)


def test_cjk_text_wraps_by_width_without_spaces() -> None:
    draw = ImageDraw.Draw(Image.new("RGB", (10, 10)))
    face = demo_text.font(20)
    lines = list(demo_text.wrap(draw, "夜の東京" * 10, face, 200))
    assert len(lines) > 1
    assert all(draw.textlength(line, font=face) <= 200 for line in lines)
    assert "".join(lines) == "夜の東京" * 10


def test_a_chinese_prompt_is_drawn_with_real_glyphs() -> None:
    """Two different Chinese prompts of one length give different labels; drawn as boxes (one
    .notdef glyph for every character, as Pillow's default font did) they were identical."""

    def label(prompt: str) -> bytes:
        image = Image.new("RGB", (512, 512))
        _label(ImageDraw.Draw(image, "RGBA"), prompt, 512, 512)
        return image.tobytes()

    assert label("东京的夜晚") != label("上海的早晨")
    assert label("café") != label("cafe")


def test_the_demo_draws_a_mixed_script_prompt() -> None:
    req = GenerationRequest(model="demo-pattern", prompt="a café 夜の東京 🌸", params={"seed": 1})
    image = Image.open(io.BytesIO(DemoProvider().generate(req).data))
    assert image.size[0] > 0
