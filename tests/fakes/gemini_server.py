"""A fake Gemini API speaking the real wire format:
`POST /{version}/models/{model}:generateContent` with `x-goog-api-key`, camelCase JSON,
inline base64 images, 200 replies for safety blocks, and Google's error bodies."""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

from tests.fakes.http_server import FakeServer, Recorded, Reply, b64decode_loose, make_png

API_KEY = "AIzaTestGeminiKey0123456789abcdefghij"
KNOWN_MODELS = {
    "gemini-nano-banana-2.1",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite-image",
    "gemini-3-pro-image",
    "gemini-2.5-flash-image",
}
USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 1120, "totalTokenCount": 1132}
_PATH = re.compile(r"^/(?P<version>v[0-9a-z]+)/models/(?P<model>[^/:]+):generateContent$")


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> Reply:
    """{"error": {code, message, status, details}} as Google APIs send it."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return Reply(code, {"error": error})


def quota_error(quota_id: str, retry_delay: str | None = "47s") -> Reply:
    """429 RESOURCE_EXHAUSTED with QuotaFailure (and RetryInfo)."""
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": "gemini-3-pro-image"},
                    "quotaValue": "10",
                }
            ],
        }
    ]
    if retry_delay:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}
        )
    return google_error(
        429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", details=details
    )


def image_part(data: bytes, mime: str = "image/png", **extra: Any) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": base64.b64encode(data).decode()}, **extra}


def reply_with_parts(
    parts: list[dict[str, Any]], finish_reason: str = "STOP", **candidate: Any
) -> Reply:
    body = {
        "candidates": [
            {
                "content": {"role": "model", "parts": parts},
                "finishReason": finish_reason,
                "index": 0,
                **candidate,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-3-pro-image",
        "responseId": "resp-scripted",
    }
    return Reply(200, body)


def prompt_blocked(reason: str = "SAFETY") -> Reply:
    return Reply(200, {"promptFeedback": {"blockReason": reason}, "usageMetadata": USAGE})


class FakeGemini(FakeServer):
    """Base URL for the SDK: `fake.url` (the SDK adds `/v1/…`)."""

    def __init__(self, api_key: str = API_KEY) -> None:
        super().__init__()
        self.api_key = api_key
        self.image = make_png(20, 20, seed=5)
        self.known_models = set(KNOWN_MODELS)
        self._ids = itertools.count(1)

    def generate_calls(self) -> list[Recorded]:
        return [r for r in self.requests if _PATH.match(r.path)]

    def route(self, request: Recorded) -> Reply:
        match = _PATH.match(request.path)
        if request.method != "POST" or match is None:
            return google_error(404, "NOT_FOUND", f"Unknown path {request.path}.")
        key = request.headers.get("x-goog-api-key") or (request.query.get("key") or [""])[0]
        if key != self.api_key:
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                details=[
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "API_KEY_INVALID",
                        "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"},
                    }
                ],
            )
        model = match.group("model")
        if model not in self.known_models:
            return google_error(
                404,
                "NOT_FOUND",
                f"models/{model} is not found for API version {match.group('version')}, or "
                "is not supported for generateContent.",
            )
        scripted = self.scripted()
        if scripted is not None:
            return scripted
        return self.success(model)

    def success(self, model: str) -> Reply:
        body = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [image_part(self.image)]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": USAGE,
            "modelVersion": model,
            "responseId": f"resp-{next(self._ids):04d}",
        }
        return Reply(200, body)

    @staticmethod
    def inline_images(request: Recorded) -> list[bytes]:
        """Images a client sent as inline data parts, decoded."""
        out = []
        for content in request.json().get("contents", []):
            for part in content.get("parts", []):
                blob = part.get("inlineData") or part.get("inline_data")
                if blob:
                    out.append(b64decode_loose(blob["data"]))
        return out
