"""Parameters travel with the image: the recipe written into PNG (iTXt), JPEG and WebP (XMP)
without touching the pixels or the provider's bytes (a C2PA `caBX` chunk survives), read back
by the studio, and read from A1111, InvokeAI and ComfyUI PNGs. Hostile files first."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image

from core.domain.recipe import (
    MAX_TEXT,
    Recipe,
    embed_recipe,
    png_chunks,
    read_recipe,
)

RECIPE = Recipe(
    prompt='a lighthouse at dusk, oil: thick, "quoted" & <tagged>\nsecond line ünïcødé',
    negative_prompt="blurry, text",
    provider="openai",
    model="gpt-image-1",
    params={
        "aspect_ratio": "16:9",
        "quality": "high",
        "seed": 42,
        "negative_prompt": "blurry, text",
    },
    seed=42,
    job_id="0b6a4f0e-3b7c-4d5e-9f00-1234567890ab",
    studio_version="0.1.0",
)


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def image_bytes(fmt: str, mode: str = "RGB", **save: object) -> bytes:
    img = Image.new(mode, (37, 23))
    img.putdata([((x * 7) % 256, (x * 3) % 256, 90, 200)[: len(mode)] for x in range(37 * 23)])
    out = io.BytesIO()
    img.save(out, format=fmt, **save)
    return out.getvalue()


def png_with_cabx() -> bytes:
    """A PNG carrying a C2PA manifest store chunk (`caBX`) before IDAT, as OpenAI's do."""
    png = image_bytes("PNG")
    chunks = png_chunks(png)
    manifest = chunk(b"caBX", b"jumb" + bytes(range(256)) * 4)
    ihdr = chunks[0]
    return png[: ihdr.end] + manifest + png[ihdr.end :]


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGBA").tobytes()


# ---- hostile input ------------------------------------------------------------------------------


def test_a_zip_bomb_in_a_text_chunk_is_not_inflated_past_the_bound() -> None:
    bomb = zlib.compress(b"A" * (MAX_TEXT * 20), 9)
    png = image_bytes("PNG")
    end = png_chunks(png)[-1].start
    evil = png[:end] + chunk(b"zTXt", b"parameters\x00\x00" + bomb) + png[end:]
    assert len(evil) < 200_000
    assert read_recipe(evil) is None  # refused, not inflated to 20 MB


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x89PNG\r\n\x1a\n",
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 2**31) + b"iTXt",  # a length past the end
        b"\xff\xd8\xff\xe1\xff\xff" + b"http://ns.adobe.com/xap/1.0/\x00<x",  # truncated
        b"RIFF\xff\xff\xff\xffWEBPXMP \xff\xff\xff\x7f",
        b"GIF89a" + b"\x00" * 20,
        b"\x00" * 1000,
    ],
)
def test_malformed_files_read_as_no_recipe(data: bytes) -> None:
    assert read_recipe(data) is None


def test_a_malformed_file_is_stored_unchanged() -> None:
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00\x00"
    assert embed_recipe(broken, "image/png", RECIPE) == broken
    assert embed_recipe(b"GIF89a...", "image/gif", RECIPE) == b"GIF89a..."


def test_json_in_a_foreign_key_cannot_inject_fields() -> None:
    png = image_bytes("PNG")
    end = png_chunks(png)[-1].start
    evil = png[:end] + chunk(b"tEXt", b"image-studio\x00[1, 2, 3]") + png[end:]
    assert read_recipe(evil) is None


# ---- round trips -------------------------------------------------------------------------------


def test_png_round_trip_keeps_pixels_and_the_c2pa_chunk() -> None:
    original = png_with_cabx()
    stored = embed_recipe(original, "image/png", RECIPE)
    assert pixels(stored) == pixels(original)
    before = {c.kind: c.body for c in png_chunks(original)}
    after = png_chunks(stored)
    kinds = [c.kind for c in after]
    assert kinds.count(b"caBX") == 1 and {c.kind: c.body for c in after}[b"caBX"] == before[b"caBX"]
    assert [c.body for c in after if c.kind == b"IDAT"] == [
        c.body for c in png_chunks(original) if c.kind == b"IDAT"
    ]
    assert kinds[-3:] == [b"iTXt", b"iTXt", b"IEND"]
    # every original byte is still there, in order: only chunks were inserted
    assert (
        stored.replace(b"".join(stored[c.start : c.end] for c in after if c.kind == b"iTXt"), b"")
        == original
    )
    assert read_recipe(stored) == RECIPE
    # PIL (and so A1111-reading tools) see the `parameters` text
    with Image.open(io.BytesIO(stored)) as img:
        assert img.text["parameters"].startswith("a lighthouse at dusk")  # type: ignore[attr-defined]
        assert json.loads(img.text["image-studio"])["job_id"] == RECIPE.job_id  # type: ignore[attr-defined]


def test_embedding_twice_replaces_instead_of_piling_up() -> None:
    once = embed_recipe(image_bytes("PNG"), "image/png", RECIPE)
    twice = embed_recipe(once, "image/png", RECIPE)
    assert len(twice) == len(once)


def test_jpeg_round_trip_keeps_every_byte_of_the_original() -> None:
    original = image_bytes("JPEG", quality=90)
    stored = embed_recipe(original, "image/jpeg", RECIPE)
    assert len(stored) > len(original)
    # one APP1 segment inserted after the JFIF APP0; the rest is the provider's bytes
    app0_end = 2 + 2 + struct.unpack(">H", original[4:6])[0]
    assert stored[:app0_end] == original[:app0_end]
    assert stored.endswith(original[app0_end:])
    assert pixels(stored) == pixels(original)
    assert read_recipe(stored) == RECIPE


@pytest.mark.parametrize(
    ("mode", "save"),
    [("RGB", {"lossless": True}), ("RGBA", {"lossless": True}), ("RGB", {"quality": 80})],
)
def test_webp_round_trip_adds_an_xmp_chunk(mode: str, save: dict) -> None:
    original = image_bytes("WEBP", mode, **save)
    stored = embed_recipe(original, "image/webp", RECIPE)
    assert pixels(stored) == pixels(original)
    assert original[12:] in stored  # the provider's chunks, unchanged
    with Image.open(io.BytesIO(stored)) as img:
        assert img.size == (37, 23)
        assert "xmp" in img.info
    assert read_recipe(stored) == RECIPE


def test_an_extended_webp_keeps_its_header_and_gets_the_flag() -> None:
    extended = embed_recipe(image_bytes("WEBP", "RGBA", lossless=True), "image/webp", RECIPE)
    # a file that already has XMP (say, the provider's) is left as it is
    assert embed_recipe(extended, "image/webp", RECIPE) == extended


# ---- other tools' PNGs -------------------------------------------------------------------------


def with_text(key: str, text: str) -> bytes:
    png = image_bytes("PNG")
    end = png_chunks(png)[-1].start
    return png[:end] + chunk(b"tEXt", key.encode() + b"\x00" + text.encode("latin-1")) + png[end:]


def test_an_a1111_png_is_read() -> None:
    text = (
        "masterpiece, a red fox in snow\nNegative prompt: lowres, watermark\n"
        "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x768, "
        'Model hash: abc123, Model: sd_xl_base_1.0, Lora hashes: "a: 1, b: 2"'
    )
    recipe = read_recipe(with_text("parameters", text))
    assert recipe is not None and recipe.source == "a1111"
    assert recipe.prompt == "masterpiece, a red fox in snow"
    assert recipe.negative_prompt == "lowres, watermark"
    assert recipe.seed == 1234 and recipe.model == "sd_xl_base_1.0"
    assert recipe.params["size"] == "512x768" and recipe.params["cfg_scale"] == "7"
    assert recipe.params["lora_hashes"] == "a: 1, b: 2"


def test_an_invokeai_png_is_read() -> None:
    meta = {
        "positive_prompt": "a castle on a hill",
        "negative_prompt": "fog",
        "seed": 99,
        "model": {"name": "juggernaut-xl", "base": "sdxl"},
        "width": 1024,
        "height": 1024,
        "steps": 30,
    }
    recipe = read_recipe(with_text("invokeai_metadata", json.dumps(meta)))
    assert recipe is not None and recipe.source == "invokeai"
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed) == ("a castle on a hill", "fog", 99)
    assert recipe.model == "juggernaut-xl" and recipe.params["steps"] == 30


def test_a_comfyui_png_is_read() -> None:
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": 7, "steps": 25, "cfg": 8,
              "sampler_name": "euler", "positive": ["6", 0], "negative": ["7", 0]}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a tiny robot", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "ugly", "clip": ["4", 1]}},
    }  # fmt: skip
    recipe = read_recipe(with_text("prompt", json.dumps(graph)))
    assert recipe is not None and recipe.source == "comfyui"
    assert (recipe.prompt, recipe.negative_prompt, recipe.seed) == ("a tiny robot", "ugly", 7)
