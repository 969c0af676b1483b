"""A fake OpenAI Images API speaking the real wire format: `POST /v1/images/generations`
(JSON) and `POST /v1/images/edits` (multipart) with a Bearer key, base64 images, usage,
`x-request-id`, and OpenAI's error bodies."""

from __future__ import annotations

import base64
import itertools
import time
from typing import Any

from tests.fakes.http_server import FakeServer, Recorded, Reply, make_png

API_KEY = "sk-test-openai-0123456789abcdef"
USAGE = {
    "input_tokens": 50,
    "input_tokens_details": {"text_tokens": 40, "image_tokens": 10},
    "output_tokens": 1056,
    "output_tokens_details": {"image_tokens": 1056, "text_tokens": 0},
    "total_tokens": 1106,
}


def openai_error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    type: str = "invalid_request_error",
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An error reply shaped like OpenAI's: {"error": {message, type, param, code}}."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return Reply(status, body, {"x-request-id": "req_err", **(headers or {})})


def moderation_blocked() -> Reply:
    return openai_error(
        400,
        "Your request was rejected by the safety system. If you believe this is an error, "
        "contact us. safety_violations=[violence].",
        code="moderation_blocked",
        type="image_generation_user_error",
    )


class FakeOpenAI(FakeServer):
    """Base URL for the SDK: `fake.base_url` (…/v1)."""

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.image = make_png(24, 16, seed=3)
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def generations(self) -> list[Recorded]:
        return self.calls("/v1/images/generations")

    def edits(self) -> list[Recorded]:
        return self.calls("/v1/images/edits")

    def route(self, request: Recorded) -> Reply:
        if request.method != "POST" or request.path not in (
            "/v1/images/generations",
            "/v1/images/edits",
        ):
            return openai_error(404, f"Unknown request URL: {request.method} {request.path}.")
        if request.headers.get("authorization") != f"Bearer {self.api_key}":
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            masked = f"{given[:5]}***{given[-4:]}" if len(given) > 9 else "***"
            return openai_error(
                401,
                f"Incorrect API key provided: {masked}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )
        scripted = self.scripted()
        if scripted is not None:
            return scripted
        if request.path.endswith("/edits"):
            if "image" not in request.files() and "image[]" not in request.files():
                return openai_error(400, "Missing required parameter: 'image'.", param="image")
            return self.success(request.form())
        return self.success(request.json())

    def success(self, body: dict[str, Any]) -> Reply:
        if "response_format" in body:
            return openai_error(
                400,
                "Unknown parameter: 'response_format'.",
                code="unknown_parameter",
                param="response_format",
            )
        payload = {
            "created": int(time.time()),
            "background": "opaque"
            if body.get("background") in (None, "auto")
            else body["background"],
            "output_format": body.get("output_format", "png"),
            "quality": body.get("quality", "medium"),
            "size": body.get("size", "1024x1024"),
            "data": [{"b64_json": base64.b64encode(self.image).decode()}],
            "usage": USAGE,
        }
        return Reply(200, payload, {"x-request-id": f"req_{next(self._ids):04d}"})
