"""Edit and iterate figures, run by hand:

    python bench/edit.py               # both parts
    python bench/edit.py --memory      # only the upload memory peak
    python bench/edit.py --roundtrip --runs 5

1. Memory of the largest accepted upload: a JPEG of 4096 × 4096 pixels (the pixel cap) near the
   20 MB byte cap goes through core.domain.uploads.prepare_image (type by content, header pixel
   check, decode, EXIF transpose, metadata-free re-encode) and JobsService.submit_iteration's
   storing, in a fresh child process. Printed: the file size, the peak RSS growth over the child's
   baseline (Pillow's pixel buffers are C allocations, so RSS, not only tracemalloc) and the
   Python-level peak (tracemalloc), each also as a multiple of the file size.
2. Edit round trip with the demo provider, click → image: in headless Chromium against a real
   server (`streamlit run app.py`), upload, paint a stroke, click "Edit image" and time until the
   result's "Done" badge and image are shown; `--runs` times, median and max.

Figures depend on the machine (2 shared cores here); they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from PIL import Image  # noqa: E402

from core.domain.uploads import MAX_UPLOAD_BYTES, MAX_UPLOAD_PIXELS  # noqa: E402

SIDE = int(MAX_UPLOAD_PIXELS**0.5)


def largest_upload(path: Path) -> int:
    """A 4096² JPEG as close under 20 MB as the quality steps allow (noise compresses badly)."""
    rng = random.Random(7)
    tile = Image.frombytes("RGB", (512, 512), rng.randbytes(512 * 512 * 3))
    img = Image.new("RGB", (SIDE, SIDE))
    for x in range(0, SIDE, 512):
        for y in range(0, SIDE, 512):
            img.paste(tile.rotate(90 * ((x + y) // 512 % 4)), (x, y))
    for quality in (95, 90, 85, 80, 75, 70, 60, 50):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        if buf.tell() <= MAX_UPLOAD_BYTES:
            path.write_bytes(buf.getvalue())
            return buf.tell()
    raise RuntimeError("could not fit the test image under the cap")


CHILD = r"""
import json, resource, sys, tempfile, tracemalloc
from dataclasses import replace
from pathlib import Path
from core.backends import open_backend
from core.domain.models import JobKind, JobRequest
from core.domain.settings import Settings
from core.providers.demo import DemoProvider
from core.services import build_services
from core.services.inputs import Inputs

def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

data_dir = Path(tempfile.mkdtemp()) / "data"
settings = Settings.load(env={}, secrets_path=None)
settings = replace(settings, data_dir=data_dir, worker_enabled=False)
backend = open_backend(settings)
services = build_services(backend, {"demo": DemoProvider()}, settings)
user = services.accounts.sign_up("bench@example.com", "bench-password").user
data = open(sys.argv[1], "rb").read()
base = rss_kb()
tracemalloc.start()
request = JobRequest("demo", "demo-poster", "bench", kind=JobKind.EDIT)
services.jobs.submit_iteration(user, request, images=Inputs(image=data))
_, py_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, the whole life
print(json.dumps({"base_kb": base, "peak_kb": peak, "py_peak": py_peak}))
"""


def memory() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "largest.jpg"
        size = largest_upload(path)
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent.parent,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
    growth = (figures["peak_kb"] - figures["base_kb"]) * 1024
    print(f"largest accepted upload: {SIDE}x{SIDE} JPEG, {size / 2**20:.1f} MiB")
    print(f"  RSS peak growth:   {growth / 2**20:6.1f} MiB = {growth / size:.1f}x the file")
    py = figures["py_peak"]
    print(f"  Python-level peak: {py / 2**20:6.1f} MiB = {py / size:.1f}x the file (tracemalloc)")


def roundtrip(runs: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS
    from tests.e2e.helpers import open_page, sign_up
    from tests.live_server import start_live_server

    times: list[float] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        start_live_server(Path(tmp) / "data") as server,
        sync_playwright() as playwright,
    ):
        source = Path(tmp) / "source.png"
        Image.new("RGB", (640, 400), (30, 90, 160)).save(source)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(60_000)
        page.goto(server.url + "/")
        sign_up(page, "bench@example.com", "bench-password")
        open_page(page, "Edit")
        main = page.get_by_test_id("stMain")
        main.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(source))
        canvas = page.locator("canvas.upper-canvas")
        expect(canvas).to_be_visible()
        box = canvas.bounding_box()
        assert box is not None
        page.mouse.move(box["x"] + 40, box["y"] + 40)
        page.mouse.down()
        page.mouse.move(box["x"] + 160, box["y"] + 90, steps=8)
        page.mouse.up()
        expect(main.get_by_text("Masked: only the painted area changes.")).to_be_visible()
        main.get_by_role("textbox", name="What to change").fill("a red balloon")
        shown = main.get_by_test_id("stImage").locator("img")
        previous = None
        for _run in range(runs):
            start = time.perf_counter()
            main.get_by_role("button", name="Edit image").click()
            # done when a new result image (not the previous run's) is on the page
            while True:
                srcs = [shown.nth(i).get_attribute("src") for i in range(shown.count())]
                if srcs and srcs[-1] != previous:
                    break
                page.wait_for_timeout(20)
            times.append(time.perf_counter() - start)
            previous = srcs[-1]
            page.wait_for_timeout(500)
        browser.close()
    print(f"edit round trip, demo provider, click → image shown ({runs} runs):")
    print(f"  median {statistics.median(times):.2f} s, max {max(times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--roundtrip", action="store_true")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    both = not args.memory and not args.roundtrip
    if args.memory or both:
        memory()
    if args.roundtrip or both:
        roundtrip(args.runs)


if __name__ == "__main__":
    main()
