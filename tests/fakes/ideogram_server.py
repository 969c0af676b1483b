"""A fake Ideogram API speaking the real wire format: `POST /v1/ideogram-v3/generate`
(multipart form, `Api-Key` header) answering with temporary image URLs that it also serves
(`GET /images/<id>.png`), plus Ideogram's error bodies."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http_server import FakeServer, Recorded, Reply, make_png

API_KEY = "ideo-test-key-0123456789abcdef"
GENERATE = "/v1/ideogram-v3/generate"
INPAINT = "/v2/image/inpaint/ideogram-3"  # the v2 replacement of the deprecated v1 edit
REMIX = "/v1/ideogram-v3/remix"
DEPRECATED_EDIT = "/v1/ideogram-v3/edit"


def ideogram_error(status: int, message: str, **extra: Any) -> Reply:
    return Reply(status, {"error": message, **extra})


class FakeIdeogram(FakeServer):
    """Base URL for the adapter: `fake.url`. `image_url` overrides the link it hands out;
    `downloads` replies are used (in order) for image GETs before the default image."""

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.image = make_png(32, 18, seed=9)
        self.image_url: str | None = None
        self.is_image_safe = True
        self.download_replies: list[Reply] = []
        self._ids = itertools.count(1)

    def generate_calls(self) -> list[Recorded]:
        return self.calls(GENERATE)

    def inpaint_calls(self) -> list[Recorded]:
        return self.calls(INPAINT)

    def remix_calls(self) -> list[Recorded]:
        return self.calls(REMIX)

    def image_calls(self) -> list[Recorded]:
        return self.calls("/images/")

    def route(self, request: Recorded) -> Reply:
        if request.method == "GET" and request.path.startswith("/images/"):
            if self.download_replies:
                return self.download_replies.pop(0)
            return Reply(200, self.image, {"Content-Type": "image/png"})
        if request.method != "POST" or request.path not in (GENERATE, INPAINT, REMIX):
            return ideogram_error(404, "Not found")
        if request.headers.get("api-key") != self.api_key:
            return ideogram_error(401, "Invalid or missing Api-Key.")
        scripted = self.scripted()
        if scripted is not None:
            return scripted
        form = request.form()
        if "resolution" in form and "aspect_ratio" in form:
            return ideogram_error(400, "resolution cannot be combined with aspect_ratio")
        files = request.files()
        if request.path == INPAINT and ("image" not in files or "mask" not in files):
            return ideogram_error(400, "image and mask are required")
        if request.path == REMIX and "image" not in files:
            return ideogram_error(400, "image is required")
        if len([p for p in request.file_parts() if p[0] == "character_reference_images"]) > 1:
            return ideogram_error(400, "only one character reference image is supported")
        n = next(self._ids)
        seed = int(form.get("seed", 1000 + n))
        item = {
            "url": None if not self.is_image_safe else (
                self.image_url or f"{self.url}/images/ephemeral-{n}.png?exp=1&sig=abc"
            ),
            "prompt": f"{form['prompt']}, cinematic lighting"
            if form.get("magic_prompt", "AUTO") != "OFF"
            else form["prompt"],
            "resolution": "1024x1024",
            "upscaled_resolution": None,
            "is_image_safe": self.is_image_safe,
            "seed": seed,
            "style_type": form.get("style_type", "GENERAL"),
        }  # fmt: skip
        return Reply(200, {"created": datetime.now(UTC).isoformat(), "data": [item]})
