"""Outside images (uploads, base64 from API clients, masks): the hostile cases first. Each bad
input gets a clear error of the right kind (413 / 415 / 422) and nothing is decoded that the
checks before it should have stopped."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image, ImageFile

from core.domain import uploads
from core.domain.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError


def encode(img: Image.Image, fmt: str = "PNG", **kw: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **kw)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that announces width×height pixels and holds (almost) nothing: a bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_file_over_20_mb_is_413_before_anything_is_read():
    with pytest.raises(PayloadTooLarge) as caught:
        uploads.prepare_image(b"\x89PNG\r\n\x1a\n" + b"\x00" * (20 * 1024 * 1024))
    assert caught.value.http_status == 413 and "20 MB" in caught.value.message
    uploads.check_upload_size(20 * 1024 * 1024)  # exactly the cap is fine
    with pytest.raises(PayloadTooLarge):
        uploads.check_upload_size(20 * 1024 * 1024 + 1)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 64,  # an image type we do not take
        b"%PDF-1.7\n" + b"\x00" * 64,
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"BM" + b"\x00" * 64,  # BMP
        encode(Image.new("RGB", (4, 4)), "GIF"),
        encode(Image.new("RGB", (4, 4)), "BMP"),
        encode(Image.new("RGB", (4, 4)), "TIFF"),
    ],
)
def test_types_other_than_png_jpeg_webp_are_415_by_content(data):
    with pytest.raises(UnsupportedMediaType) as caught:
        uploads.prepare_image(data)
    assert caught.value.http_status == 415


def test_a_png_named_jpeg_is_judged_by_its_bytes():
    png = encode(Image.new("RGB", (8, 8), "red"))
    assert uploads.prepare_image(png).mime == "image/png"


@pytest.mark.parametrize("side", [(4097, 4096), (100_000, 100_000), (2**31 - 1, 1)])
def test_a_decompression_bomb_is_refused_from_its_header(side, monkeypatch):
    def no_decoding(*args, **kwargs):  # the pixel check must come before any decode
        raise AssertionError("decoded a bomb")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(ValidationError) as caught:
        uploads.prepare_image(png_header_only(*side))
    assert "pixels" in caught.value.message and caught.value.http_status == 422


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",  # a signature and nothing else
        b"\x89PNG\r\n\x1a\n" + b"garbage" * 20,
        b"\xff\xd8\xff" + b"\x00" * 40,  # a JPEG that ends at once
        encode(Image.new("RGB", (64, 64), "blue"))[:-40],  # truncated
    ],
)
def test_empty_or_broken_images_are_a_clear_422(data):
    with pytest.raises(ValidationError) as caught:
        uploads.prepare_image(data)
    assert caught.value.http_status in (415, 422)


@pytest.mark.parametrize("value", ["a string", 42, None, ["list"], {"dict": 1}])
def test_wrong_types_are_refused(value):
    with pytest.raises(ValidationError):
        uploads.prepare_image(value)


def test_exif_with_gps_is_stripped_and_orientation_applied():
    img = Image.new("RGB", (40, 20), "green")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS IFD
    exif[0x010F] = "SpyCam"
    data = encode(img, "JPEG", exif=exif.tobytes())
    assert b"SpyCam" in data

    prepared = uploads.prepare_image(data)
    assert b"SpyCam" not in prepared.data and b"Exif" not in prepared.data
    with Image.open(io.BytesIO(prepared.data)) as out:
        assert out.size == (20, 40)  # orientation applied, then dropped
        assert not out.getexif()
    assert prepared.size == (20, 40)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_each_accepted_type_keeps_its_format_and_loses_its_metadata(fmt):
    img = Image.new("RGB", (30, 30), "purple")
    extra: dict[str, object] = {"exif": b"Exif\x00\x00" + Image.Exif().tobytes()[6:]}
    if fmt == "PNG":
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "secret-text-chunk")
        extra = {"pnginfo": info}
    data = encode(img, fmt, **extra)
    prepared = uploads.prepare_image(data)
    assert prepared.mime == {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    assert b"secret-text-chunk" not in prepared.data
    assert len(prepared.digest) == 64


def test_a_mask_of_another_size_is_refused():
    mask = encode(Image.new("L", (10, 12), 255))
    with pytest.raises(ValidationError) as caught:
        uploads.prepare_mask(mask, (10, 10))
    assert "same size" in caught.value.message


def test_a_mask_that_marks_nothing_is_refused():
    with pytest.raises(ValidationError) as caught:
        uploads.prepare_mask(encode(Image.new("L", (10, 10), 0)), (10, 10))
    assert "marks nothing" in caught.value.message


def test_masks_are_read_into_the_one_internal_convention():
    # white = change, black = keep; transparent counts as keep whatever its colour
    rgba = Image.new("RGBA", (4, 1), (0, 0, 0, 255))
    rgba.putpixel((1, 0), (255, 255, 255, 255))  # opaque white: change
    rgba.putpixel((2, 0), (255, 255, 255, 0))  # transparent white: keep
    rgba.putpixel((3, 0), (200, 200, 200, 255))  # light grey: change
    prepared = uploads.prepare_mask(encode(rgba), (4, 1))
    with Image.open(io.BytesIO(prepared.data)) as mask:
        assert mask.mode == "L"
        assert list(mask.getdata()) == [0, 255, 0, 255]
