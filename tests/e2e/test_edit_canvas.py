"""The editor in a real browser: upload an image, paint a mask on the canvas, submit an edit with
the demo provider, and get an image whose unpainted pixels are exactly the source's."""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path

from PIL import Image, ImageChops
from playwright.sync_api import Page, expect

from tests.constants import PASSWORD
from tests.e2e.helpers import open_page, sign_up, signed_in_marker


def _source(tmp_path: Path) -> Path:
    img = Image.new("RGB", (320, 200), (30, 90, 160))
    for x in range(0, 320, 8):  # stripes: any stray change would show
        for y in range(200):
            img.putpixel((x, y), (240, 200, 40))
    path = tmp_path / "source.png"
    img.save(path)
    return path


def _edit_row(data_dir: Path, timeout: float = 30) -> sqlite3.Row:
    deadline = time.monotonic() + timeout
    while True:
        with sqlite3.connect(data_dir / "studio.db") as conn:
            conn.row_factory = sqlite3.Row
            row = conn.execute(
                "SELECT * FROM jobs WHERE kind = 'edit' AND status = 'done'"
            ).fetchone()
        if row is not None:
            return row
        assert time.monotonic() < deadline, "the edit did not finish"
        time.sleep(0.2)


def test_paint_a_mask_and_edit_with_the_demo_provider(live_server_factory, page: Page, tmp_path):
    server = live_server_factory()
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(server.url + "/")
    sign_up(page, "painter@example.com", PASSWORD)
    expect(signed_in_marker(page, "painter@example.com")).to_be_visible()
    open_page(page, "Edit")
    main = page.get_by_test_id("stMain")

    main.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(_source(tmp_path)))
    canvas = page.locator("canvas.upper-canvas")
    expect(canvas).to_be_visible(timeout=20_000)
    box = canvas.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(
            box["x"] + box["width"] * (0.2 + 0.03 * step), box["y"] + box["height"] * 0.3, steps=2
        )
    page.mouse.up()
    expect(main.get_by_text("Masked: only the painted area changes.")).to_be_visible(timeout=30_000)
    page.screenshot(path=str(tmp_path / "painted.png"))

    main.get_by_role("textbox", name="What to change").fill("a red balloon")
    main.get_by_role("button", name="Edit image").click()
    expect(main.get_by_text(re.compile(r"Done$"))).to_have_count(1, timeout=30_000)

    row = _edit_row(server.data_dir)
    blobs = server.data_dir / "blobs"
    with Image.open(blobs / row["input_path"]) as src, Image.open(blobs / row["mask_path"]) as m:
        source, mask = src.convert("RGB"), m.convert("L")
    with Image.open(blobs / row["result_path"]) as out:
        result = out.convert("RGB")
    assert result.size == source.size == mask.size
    keep = mask.point(lambda v: 255 if v < 128 else 0)  # unpainted pixels
    diff = ImageChops.difference(result, source).convert("L").point(lambda v: 255 if v else 0)
    assert ImageChops.multiply(diff, keep).getbbox() is None, "an unpainted pixel changed"
    assert ImageChops.multiply(diff, ImageChops.invert(keep)).getbbox() is not None
    assert 0.005 < sum(1 for v in mask.getdata() if v) / (320 * 200) < 0.5
