"""Images that come from outside (an upload, an API client's base64, a mask): checked and
made safe before anything stores or sends them.

Checks, in order, each before the more expensive next one: the size in bytes (20 MB), the type
by content (PNG, JPEG or WebP; never the name or a claimed MIME type), the pixel count from the
header (a decompression bomb is refused before a pixel is decoded), then a full decode. The
image is re-encoded in its own format with no metadata, so EXIF (GPS, camera, time) and any
other embedded data never reach storage or a provider; EXIF orientation is applied first.

The one internal mask convention: a greyscale PNG the size of the image, **white (255) =
change, black (0) = keep**. Uploaded masks are read as: an opaque pixel of luminance >= 128 is
"change", everything else (dark or transparent) is "keep". Each provider adapter converts this
mask to its provider's own convention (OpenAI: alpha 0 = change; Ideogram: black = change)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageOps

from core.domain import images
from core.domain.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
# 4096 × 4096: about 67 MB decoded as RGBA, a few times the largest accepted file.
MAX_UPLOAD_PIXELS = 4096 * 4096
UPLOAD_MIMES = ("image/png", "image/jpeg", "image/webp")
_ORIENTATION = 0x0112
_FORMAT_BY_MIME = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}


@dataclass(frozen=True)
class PreparedImage:
    """Re-encoded, metadata-free bytes ready to store, with what we know about them."""

    data: bytes
    mime: str
    width: int
    height: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def ext(self) -> str:
        return images.extension_for(self.mime)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


def _what(what: str) -> dict[str, str]:
    """The error params naming the checked file by its kind ("image", "source image", "mask",
    "reference image"), so the UI can say it in its language; the English message keeps a
    reference image's number."""
    return {"what": "reference image" if what.startswith("reference image") else what}


def check_upload_size(length: int | None, *, limit: int = MAX_UPLOAD_BYTES) -> None:
    """PayloadTooLarge when a declared or counted length exceeds `limit` (checked before the
    body is read where the length is known)."""
    if length is not None and length > limit:
        raise PayloadTooLarge(
            f"The file is larger than {limit // (1024 * 1024)} MB.",
            reason="upload_too_large",
            params={"size": limit // (1024 * 1024)},
        )


def prepare_image(
    data: object,
    *,
    what: str = "image",
    max_bytes: int = MAX_UPLOAD_BYTES,
    max_pixels: int = MAX_UPLOAD_PIXELS,
) -> PreparedImage:
    """Check an outside image and re-encode it without metadata. Raises PayloadTooLarge (413),
    UnsupportedMediaType (415) or ValidationError (422) with a plain message."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(
            f"The {what} must be image bytes.", reason="upload_not_bytes", params=_what(what)
        )
    data = bytes(data)
    check_upload_size(len(data), limit=max_bytes)
    if not data:
        raise ValidationError(f"The {what} is empty.", reason="upload_empty", params=_what(what))
    mime = images.sniff_mime(data)
    if mime not in UPLOAD_MIMES:
        raise UnsupportedMediaType(
            f"The {what} must be a PNG, JPEG or WebP image.",
            reason="upload_not_image",
            params=_what(what),
        )
    fmt = _FORMAT_BY_MIME[mime]
    try:
        with Image.open(io.BytesIO(data), formats=[fmt]) as img:
            width, height = img.size
            if width < 1 or height < 1 or width * height > max_pixels:
                raise ValidationError(
                    f"The {what} is {width}×{height} pixels; at most "
                    f"{max_pixels:,} pixels ({_side(max_pixels)}) are accepted.",
                    reason="upload_too_many_pixels",
                    params={
                        **_what(what),
                        "width": width,
                        "height": height,
                        "max": max_pixels,
                        "side": _side(max_pixels),
                    },
                )
            orientation = img.getexif().get(_ORIENTATION, 1)
            img.load()
            # Memory: one decoded copy of the pixels at a time (a transpose replaces it in
            # place; nothing is converted to the mode it already has).
            if orientation != 1:
                ImageOps.exif_transpose(img, in_place=True)
            buffer = _encode(img, fmt)
            size = img.size
    except ValidationError:
        raise
    except Image.DecompressionBombError as exc:
        raise ValidationError(
            f"The {what} has too many pixels.", reason="upload_bomb", params=_what(what)
        ) from exc
    except Exception as exc:  # Pillow raises many kinds for corrupt data
        raise ValidationError(
            f"The {what} is not a readable image.", reason="upload_unreadable", params=_what(what)
        ) from exc
    # the decoded pixels are gone (the image is closed) before the bytes are copied out
    return PreparedImage(data=buffer.getvalue(), mime=mime, width=size[0], height=size[1])


def prepare_mask(data: object, size: tuple[int, int]) -> PreparedImage:
    """An uploaded mask in the internal convention (greyscale PNG, white = change), checked
    against the image's size. ValidationError when it differs or marks nothing to change."""
    checked = prepare_image(data, what="mask")
    if checked.size != tuple(size):
        raise ValidationError(
            f"The mask is {checked.width}×{checked.height} pixels but the image is "
            f"{size[0]}×{size[1]}; they must be the same size.",
            reason="mask_size_differs",
            params={
                "width": checked.width,
                "height": checked.height,
                "image_width": size[0],
                "image_height": size[1],
            },
        )
    with Image.open(io.BytesIO(checked.data)) as img:
        mask = to_internal_mask(img)
    return mask_image(mask)


def to_internal_mask(img: Image.Image) -> Image.Image:
    """Any image read as a mask: opaque and light (luminance >= 128) = change (255)."""
    rgba = img.convert("RGBA")
    light = rgba.convert("L").point(lambda v: 255 if v >= 128 else 0)
    opaque = rgba.getchannel("A").point(lambda v: 255 if v >= 128 else 0)
    return Image.composite(light, Image.new("L", rgba.size, 0), opaque)


def mask_image(mask: Image.Image) -> PreparedImage:
    """A greyscale mask (255 = change) as stored PNG bytes; refuses one that marks nothing."""
    binary = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
    if binary.getbbox() is None:
        raise ValidationError(
            "The mask marks nothing to change: paint the area to change, or leave the mask out.",
            reason="mask_empty",
        )
    out = io.BytesIO()
    binary.save(out, format="PNG", optimize=True)
    return PreparedImage(
        data=out.getvalue(), mime="image/png", width=binary.width, height=binary.height
    )


def _encode(img: Image.Image, fmt: str) -> io.BytesIO:
    """`img` in `fmt` with no metadata (no exif, xmp, text chunks, ICC kept out too)."""
    out = io.BytesIO()
    if fmt == "JPEG":
        _as_mode(img, "RGB" if img.mode != "L" else "L").save(out, format="JPEG", quality=95)
    elif fmt == "WEBP":
        mode = "RGBA" if "A" in img.getbands() else "RGB"
        _as_mode(img, mode).save(out, format="WEBP", quality=95)
    else:
        mode = img.mode if img.mode in ("RGB", "RGBA", "L", "LA") else "RGBA"
        _as_mode(img, mode).save(out, format="PNG", compress_level=6)
    return out


def _as_mode(img: Image.Image, mode: str) -> Image.Image:
    return img if img.mode == mode else img.convert(mode)


def _side(pixels: int) -> str:
    side = int(pixels**0.5)
    return f"{side}×{side}"
