"""Recall in a real browser: dropping a studio image, then an AUTOMATIC1111 PNG, on the Generate
page fills the form from the recipe inside."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from core.domain.recipe import Recipe, embed_recipe
from tests.constants import PASSWORD
from tests.e2e.helpers import sign_up, signed_in_marker

SHOTS = Path(os.environ.get("SHOTS_DIR", "/tmp/shots/push"))


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (40, 90, 160)).save(out, format="PNG")
    return out.getvalue()


def _a1111_png() -> bytes:
    png = _png()
    text = b"parameters\x00a red fox in snow\nNegative prompt: watermark\nSteps: 20, Seed: 777"
    chunk = (
        struct.pack(">I", len(text))
        + b"tEXt"
        + text
        + struct.pack(">I", zlib.crc32(b"tEXt" + text))
    )
    return png[:-12] + chunk + png[-12:]


def _drop(page: Page, name: str, data: bytes) -> None:
    main = page.get_by_test_id("stMain")
    expander = main.get_by_text("Recall from an image")
    if not main.get_by_text("Drop an image made here").is_visible():
        expander.click()
    main.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "image/png", "buffer": data}
    )


def test_recall_fills_the_generate_form(live_server_factory, page: Page) -> None:
    server = live_server_factory()
    page.goto(server.url + "/")
    sign_up(page, "recall@example.com", PASSWORD)
    expect(signed_in_marker(page, "recall@example.com")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Generate", level=1)).to_be_visible()
    main = page.get_by_test_id("stMain")
    prompt = main.get_by_role("textbox", name=re.compile("^Prompt"))

    studio = Recipe(
        prompt="a lighthouse on a cliff, watercolor",
        negative_prompt="people",
        provider="demo",
        model="demo-poster",
        params={"seed": 4242},
        seed=4242,
        job_id="00000000-0000-4000-8000-000000000001",
    )
    _drop(page, "studio.png", embed_recipe(_png(), "image/png", studio))
    expect(main.get_by_text("Form filled from this studio.")).to_be_visible()
    expect(prompt).to_have_value(studio.prompt)
    expect(main.get_by_label(re.compile("^Seed"))).to_have_value("4242")
    expect(main.get_by_label("Negative prompt (optional)")).to_have_value("people")
    expect(main.get_by_text(re.compile("poster", re.I)).first).to_be_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "generate-recall-1280.png"))

    _drop(page, "a1111.png", _a1111_png())
    expect(main.get_by_text(re.compile("Form filled from an AUTOMATIC1111 image"))).to_be_visible()
    expect(prompt).to_have_value("a red fox in snow")
    expect(main.get_by_label(re.compile("^Seed"))).to_have_value("777")

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(500)
    page.screenshot(path=str(SHOTS / "generate-recall-390.png"))
    page.mouse.wheel(0, 900)
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "generate-recall-390-2.png"))

    _drop(page, "plain.png", _png())  # nothing inside: says so, changes nothing
    expect(main.get_by_text("No generation settings were found in that image.")).to_be_visible()
    expect(prompt).to_have_value("a red fox in snow")
