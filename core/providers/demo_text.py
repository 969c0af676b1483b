"""Text on the demo pictures in any script: Noto Sans CJK (the `noto-cjk-sans-otc` package, SIL
Open Font License 1.1) covers Latin with accents, Greek, Cyrillic, Chinese, Japanese and Korean;
a character it has no glyph for (an emoji, say) is written as its Unicode name in parentheses,
"(cherry blossom)", so nothing is ever drawn as an empty box. Lines wrap by pixel width, so
full-width CJK text wraps as well as Latin."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterator

from noto_cjk_sans_otc import FONT_PATH  # type: ignore[import-untyped]  # a font, no stubs
from PIL import ImageDraw, ImageFont

# Faces of NotoSansCJK-Regular.ttc: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK. Simplified Chinese first: the
# studio's first users write Chinese; the Latin, kana and Hangul glyphs are the same in each.
FACE_INDEX = 2
_EMOJI_PARTS = frozenset("\u200d\u20e3")  # zero-width joiner, combining keycap
_MISSING_PROBE = "\U0010fffd"  # a private-use code point no font maps: its glyph is .notdef


@functools.cache
def font(size: int) -> ImageFont.FreeTypeFont:
    """The CJK-capable font at `size`, loaded once per size."""
    return ImageFont.truetype(str(FONT_PATH), size, index=FACE_INDEX)


@functools.cache
def _notdef() -> tuple[tuple[int, int, int, int] | None, bytes]:
    return _glyph(_MISSING_PROBE)


def _glyph(char: str) -> tuple[tuple[int, int, int, int] | None, bytes]:
    mask = font(24).getmask(char)
    return mask.getbbox(), bytes(mask)


@functools.cache
def has_glyph(char: str) -> bool:
    """True when the font draws `char` (spaces and controls count as drawable)."""
    if char.isspace() or unicodedata.category(char).startswith("C"):
        return True
    return _glyph(char) != _notdef()


def drawable(text: str) -> str:
    """`text` with each character the font lacks replaced by its name: "a 🌸" → "a (cherry
    blossom)". Joiners and variation selectors (parts of an emoji) are dropped."""
    out: list[str] = []
    for char in text:
        if char in _EMOJI_PARTS or unicodedata.name(char, "").startswith("VARIATION SELECTOR"):
            continue  # a variation selector or zero-width joiner: part of an emoji, no text
        if has_glyph(char):
            out.append(char)
        else:
            name = unicodedata.name(char, "").lower()
            out.append(f"({name})" if name else "(symbol)")
    return "".join(out)


def wrap(
    draw: ImageDraw.ImageDraw, text: str, face: ImageFont.FreeTypeFont, width: float
) -> Iterator[str]:
    """Lines of `text` no wider than `width` pixels: breaks at spaces, and anywhere inside a
    run with no spaces (CJK) when a word alone is too wide."""
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if draw.textlength(candidate, font=face) <= width:
            line = candidate
            continue
        if line:
            yield line
            line = ""
        for char in word:
            if line and draw.textlength(line + char, font=face) > width:
                yield line
                line = ""
            line += char
    if line:
        yield line
