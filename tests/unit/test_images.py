"""Image verification, thumbnails and extensions."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from core.domain.images import (
    InvalidImage,
    extension_for,
    inspect_image,
    make_thumbnail,
)


def encode(img: Image.Image, fmt: str, **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming a huge size with almost no data: a decompression bomb's calling card."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_accepted_formats_are_identified_from_their_bytes(fmt: str, mime: str) -> None:
    info = inspect_image(encode(Image.new("RGB", (30, 20), "teal"), fmt))
    assert (info.width, info.height, info.mime, info.format) == (30, 20, mime, fmt)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"<html>not an image</html>", "not a readable image"),
        (encode(Image.new("RGB", (64, 64), "red"), "PNG")[:120], "not a readable image"),
        (encode(Image.new("RGB", (8, 8)), "BMP"), "Unsupported image format"),
        (png_header_only(9000, 9000), "megapixels"),
        (png_header_only(30000, 30000), "too many pixels"),
    ],
)
def test_non_images_truncated_files_and_bombs_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidImage) as caught:
        inspect_image(data)
    assert message in caught.value.message


def test_the_byte_and_pixel_caps_are_adjustable() -> None:
    data = encode(Image.new("RGB", (100, 100)), "PNG")
    with pytest.raises(InvalidImage, match="larger than"):
        inspect_image(data, max_bytes=10)
    with pytest.raises(InvalidImage, match="megapixels"):
        inspect_image(data, max_pixels=9_999)


def test_a_thumbnail_is_a_webp_within_the_max_side_keeping_the_aspect() -> None:
    thumb = make_thumbnail(encode(Image.new("RGB", (1200, 600), "navy"), "PNG"))
    info = inspect_image(thumb)
    assert (info.mime, info.width, info.height) == ("image/webp", 384, 192)
    small = inspect_image(make_thumbnail(encode(Image.new("RGB", (100, 50)), "JPEG"), 384))
    assert (small.width, small.height) == (100, 50)  # never upscaled


def test_a_thumbnail_keeps_transparency() -> None:
    rgba = Image.new("RGBA", (500, 500), (0, 0, 0, 0))
    with Image.open(io.BytesIO(make_thumbnail(encode(rgba, "PNG")))) as img:
        assert img.mode == "RGBA" and img.getpixel((10, 10))[3] == 0


def test_a_thumbnail_applies_the_exif_orientation() -> None:
    img = Image.new("RGB", (400, 200), "red")
    img.paste((0, 0, 255), (0, 0, 60, 200))  # blue strip on the left edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    thumb = make_thumbnail(encode(img, "JPEG", exif=exif), 100)
    with Image.open(io.BytesIO(thumb)) as shown:
        assert shown.size == (50, 100)
        r, _g, b = shown.convert("RGB").getpixel((25, 5))
        assert b > 200 and r < 60  # the left edge is now the top edge


@pytest.mark.parametrize(
    ("mime", "ext"),
    [("image/png", "png"), ("image/jpeg", "jpg"), ("image/webp", "webp"), ("IMAGE/PNG", "png")],
)
def test_extension_for_known_types(mime: str, ext: str) -> None:
    assert extension_for(mime) == ext


def test_extension_for_an_unknown_type_is_refused() -> None:
    with pytest.raises(InvalidImage):
        extension_for("application/pdf")
