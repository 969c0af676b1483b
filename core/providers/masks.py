"""The one internal mask convention (core.domain.uploads: greyscale PNG the source's size,
white = change, black = keep), converted to each provider's own:

- OpenAI `images.edit`: a PNG whose **alpha 0 marks the area to change**, the size of the first
  image, under 4 MB (https://developers.openai.com/api/reference/resources/images/methods/edit).
- Ideogram 3.0 inpaint: black and white, the image's size, **black = change**
  (https://developer.ideogram.ai/api-reference/api-reference/inpaint-v3).
- Gemini has no mask field: `hint_image` draws the area on a copy of the source, sent as a second
  image part with words saying what it shows (the mask is a hint, not a guarantee)."""

from __future__ import annotations

import io

from PIL import Image

from core.providers.base import InvalidRequest

OPENAI_MASK_MAX_BYTES = 4 * 1024 * 1024
HINT_COLOUR = (255, 0, 0)


def _read(mask: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(mask)) as img:
            return img.convert("L").point(lambda v: 255 if v >= 128 else 0)
    except Exception as exc:
        raise InvalidRequest("The mask could not be read.") from exc


def _png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue()


def openai_mask(mask: bytes) -> bytes:
    """RGBA PNG: transparent (alpha 0) where the internal mask says change, opaque black
    elsewhere. InvalidRequest when it is 4 MB or more."""
    change = _read(mask)
    alpha = change.point(lambda v: 0 if v else 255)
    rgba = Image.new("RGBA", change.size, (0, 0, 0, 255))
    rgba.putalpha(alpha)
    data = _png(rgba)
    if len(data) >= OPENAI_MASK_MAX_BYTES:
        raise InvalidRequest("The mask is too detailed for OpenAI (a mask must be under 4 MB).")
    return data


def ideogram_mask(mask: bytes) -> bytes:
    """Greyscale PNG: black (0) where the internal mask says change, white elsewhere."""
    change = _read(mask)
    return _png(change.point(lambda v: 0 if v else 255))


def hint_image(source: bytes, mask: bytes) -> bytes:
    """A PNG of the source with the area to change painted half-transparent red (Gemini)."""
    change = _read(mask)
    try:
        with Image.open(io.BytesIO(source)) as src:
            base = src.convert("RGB")
    except Exception as exc:
        raise InvalidRequest("The source image could not be read.") from exc
    if base.size != change.size:
        raise InvalidRequest("The mask must be the size of the source image.")
    tint = Image.new("RGB", base.size, HINT_COLOUR)
    return _png(Image.composite(Image.blend(base, tint, 0.55), base, change))
