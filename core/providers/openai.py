"""OpenAI Images API through the official `openai` SDK (`client.images.generate`).

The catalogue below is data: which models exist, what each accepts, and what they cost
(estimates). `generate` maps our request to one SDK call and the SDK's failures to our
error kinds. SDK retries are off: the job queue owns retries.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import openai
from openai.types import ImagesResponse

from core.domain.errors import ValidationError
from core.domain.images import sniff_mime
from core.providers.base import (
    AuthFailed,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    InvalidRequest,
    ModelInfo,
    ModelUnavailable,
    ProviderError,
    QuotaExhausted,
    RemoteProvider,
    SafetyBlocked,
    Transient,
)
from core.providers.masks import openai_mask
from core.providers.spec import ProviderSpec
from core.providers.util import hashed_user_ref, plain_message, retry_after_seconds

_UNREADABLE = "OpenAI sent a reply that could not be read; the job will retry."
MAX_PROMPT = 32_000
# images.edit takes up to 16 images (the mask applies to the first); API reference,
# https://developers.openai.com/api/reference/resources/images/methods/edit
MAX_EDIT_IMAGES = 16

# ---- catalogue -----------------------------------------------------------------------------

_FREE_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_GPT1_RATIOS = ("1:1", "3:2", "2:3")
_FORMATS = ("png", "jpeg", "webp")
_BACKGROUNDS = ("opaque", "transparent")

_GPT2 = Capabilities(
    aspect_ratios=_FREE_RATIOS,
    qualities=("draft", "standard", "high"),
    image_sizes=("1K", "2K", "4K"),
    backgrounds=_BACKGROUNDS,
    output_formats=_FORMATS,
    edit=True,
    max_prompt_chars=MAX_PROMPT,
    max_input_images=MAX_EDIT_IMAGES,
)
_GPT25 = Capabilities(
    aspect_ratios=_FREE_RATIOS,
    qualities=("draft", "standard", "high", "max"),
    image_sizes=("1K", "2K", "4K"),
    backgrounds=_BACKGROUNDS,
    output_formats=_FORMATS,
    edit=True,
    max_prompt_chars=MAX_PROMPT,
    max_input_images=MAX_EDIT_IMAGES,
)
_GPT1 = Capabilities(
    aspect_ratios=_GPT1_RATIOS,
    qualities=("draft", "standard", "high"),
    backgrounds=_BACKGROUNDS,
    output_formats=_FORMATS,
    edit=True,
    max_prompt_chars=MAX_PROMPT,
    max_input_images=MAX_EDIT_IMAGES,
)
_RETIRED = Capabilities(aspect_ratios=("1:1",))

# Shutdowns as announced on https://developers.openai.com/api/docs/deprecations and in the
# openai SDK's `types/image_model.py` ("GPT Image 1 was shut down on October 23, 2026. Use
# gpt-image-2.5-sunburst or gpt-image-2.5-flare"; DALL·E "retired on May 12, 2026"). The
# gpt-image-1.x family got notice on 2026-06-02 for 2026-12-01; the newer copy of the
# deprecations page names the 2.6 models as their replacements.
_GPT1_NOTICE = date(2026, 6, 2)
_GPT1_SHUTDOWN = date(2026, 12, 1)
_DALLE_SHUTDOWN = date(2026, 5, 12)

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        "gpt-image-2.6-sunburst",
        "GPT Image 2.6 Sunburst",
        _GPT25,
        notes="Released 2026-11-04; tuned for precision and detail.",
        price_per_image_usd=0.032,
    ),
    ModelInfo(
        "gpt-image-2.6-flare",
        "GPT Image 2.6 Flare",
        _GPT25,
        notes="Released 2026-11-04; the faster 2.6 model.",
        price_per_image_usd=0.032,
    ),
    ModelInfo(
        "gpt-image-2.5-sunburst", "GPT Image 2.5 Sunburst", _GPT25, price_per_image_usd=0.032
    ),
    ModelInfo("gpt-image-2.5-flare", "GPT Image 2.5 Flare", _GPT25, price_per_image_usd=0.032),
    ModelInfo(
        "gpt-image-2",
        "GPT Image 2",
        _GPT2,
        default=True,
        notes="Sizes above 2560x1440 (the 4K tier) are experimental; transparent is a preview.",
        price_per_image_usd=0.032,
    ),
    ModelInfo(
        "gpt-image-1.5",
        "GPT Image 1.5",
        _GPT1,
        price_per_image_usd=0.034,
        deprecated_on=_GPT1_NOTICE,
        shuts_down_on=_GPT1_SHUTDOWN,
        replacement="gpt-image-2.6-sunburst",
    ),
    ModelInfo(
        "gpt-image-1-mini",
        "GPT Image 1 mini",
        _GPT1,
        price_per_image_usd=0.011,
        deprecated_on=_GPT1_NOTICE,
        shuts_down_on=_GPT1_SHUTDOWN,
        replacement="gpt-image-2.6-flare",
    ),
    ModelInfo(
        "chatgpt-image-latest",
        "ChatGPT Image (latest)",
        _GPT1,
        deprecated_on=_GPT1_NOTICE,
        shuts_down_on=_GPT1_SHUTDOWN,
        replacement="gpt-image-2.6-sunburst",
    ),
    ModelInfo(
        "gpt-image-1",
        "GPT Image 1",
        _RETIRED,
        shuts_down_on=date(2026, 10, 23),
        replacement="gpt-image-2.5-sunburst",
    ),
    ModelInfo(
        "dall-e-3",
        "DALL·E 3",
        _RETIRED,
        shuts_down_on=_DALLE_SHUTDOWN,
        replacement="gpt-image-2",
    ),
    ModelInfo(
        "dall-e-2",
        "DALL·E 2",
        _RETIRED,
        shuts_down_on=_DALLE_SHUTDOWN,
        replacement="gpt-image-2",
    ),
)

_QUOTA_CODES = ("insufficient_quota", "credit_balance_exhausted")
QUALITY = {"draft": "low", "standard": "medium", "high": "high", "max": "max"}


@dataclass(frozen=True)
class Price:
    """Estimated USD prices. Token rates are per 1M tokens; `per_image` is by OpenAI quality
    at 1024x1024 and is used when a reply carries no usage."""

    text_in: float | None = None
    image_in: float | None = None
    image_out: float | None = None
    per_image: tuple[tuple[str, float], ...] = ()


_TOKEN_PRICED = Price(text_in=5.0, image_in=8.0, image_out=30.0)
PRICES: dict[str, Price] = {
    "gpt-image-2": _TOKEN_PRICED,
    "gpt-image-2.5-sunburst": _TOKEN_PRICED,
    "gpt-image-2.5-flare": _TOKEN_PRICED,
    "gpt-image-2.6-sunburst": _TOKEN_PRICED,
    "gpt-image-2.6-flare": _TOKEN_PRICED,
    "gpt-image-1.5": Price(per_image=(("low", 0.009), ("medium", 0.034), ("high", 0.133))),
    "gpt-image-1-mini": Price(per_image=(("low", 0.005), ("medium", 0.011), ("high", 0.036))),
}

# gpt-image-2 and later: free W x H, both multiples of 16, ratio within 1:3..3:1, long edge at
# most 3840 and pixel count within these limits. Tiers pick a target pixel count.
MIN_PIXELS = 655_360
MAX_PIXELS = 3840 * 2160
MAX_EDGE = 3840
TIER_PIXELS = {"1K": 1024 * 1024, "2K": 2560 * 1440, "4K": 3840 * 2160}
GPT1_SIZES = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536"}


def size_for(model_id: str, aspect_ratio: str | None, image_size: str | None) -> str | None:
    """The `size` to send, or None to let the model choose (`auto`)."""
    if aspect_ratio is None and image_size is None:
        return None
    ratio = aspect_ratio or "1:1"
    if _is_gpt1(model_id):
        return GPT1_SIZES[ratio]
    w_part, h_part = (int(x) for x in ratio.split(":"))
    r = w_part / h_part
    height = math.sqrt(TIER_PIXELS[image_size or "1K"] / r)
    shrink = min(1.0, MAX_EDGE / max(r * height, height))
    w = int(r * height * shrink) // 16 * 16
    h = int(height * shrink) // 16 * 16
    if w * h < MIN_PIXELS or not 1 / 3 <= w / h <= 3:
        raise ValidationError(
            f"{ratio} at {image_size or '1K'} has no valid size for {model_id}.",
            reason="no_valid_size",
            params={"ratio": str(ratio), "size": image_size or "1K", "model": model_id},
        )
    return f"{w}x{h}"


# `input_fidelity` ("how much effort to match the style and features, especially facial
# features, of input images"): the SDK's images.edit docstring (openai 3.57.0) says high/low on
# gpt-image-1.5, only low on gpt-image-1-mini, and to omit it for gpt-image-2 (later models
# unstated: omitted).
INPUT_FIDELITY = {"gpt-image-1.5": "high"}


def edit_fields(req: GenerationRequest) -> dict[str, Any]:
    """The files of an `images.edit` call: the source first (the mask applies to it), then the
    references (the SDK sends a list as repeated `image[]` parts), the mask converted to
    OpenAI's convention (alpha 0 = change), and `input_fidelity` where the model takes it."""
    if req.input_image is None:
        raise InvalidRequest("This edit has no source image.")
    files = [_file("source", req.input_image, req.input_mime)]
    files += [_file(f"reference-{i}", d, m) for i, (d, m) in enumerate(req.references, 1)]
    fields: dict[str, Any] = {"image": files[0] if len(files) == 1 else files}
    if req.mask is not None:
        fields["mask"] = ("mask.png", openai_mask(req.mask), "image/png")
    if req.model in INPUT_FIDELITY:
        fields["input_fidelity"] = INPUT_FIDELITY[req.model]
    return fields


def _file(stem: str, data: bytes, mime: str | None) -> tuple[str, bytes, str]:
    mime = mime or "image/png"
    ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(mime, "png")
    return (f"{stem}.{ext}", data, mime)


def _is_gpt1(model_id: str) -> bool:
    return model_id.startswith(("gpt-image-1", "chatgpt-image"))


def estimate_cost(model_id: str, quality: str | None, usage: dict[str, Any] | None) -> float | None:
    """Estimated USD cost of one image: from token usage where the model is token-priced,
    else from the per-image table. None when unknown."""
    price = PRICES.get(model_id)
    if price is None:
        return None
    if price.image_out is not None and usage:
        inp = usage.get("input_tokens_details") or {}
        out = usage.get("output_tokens_details") or {}
        text_in = inp.get("text_tokens", usage.get("input_tokens", 0)) or 0
        image_in = inp.get("image_tokens", 0) or 0
        image_out = out.get("image_tokens", usage.get("output_tokens", 0)) or 0
        text_out = out.get("text_tokens", 0) or 0
        cost = (
            (text_in + text_out) * (price.text_in or 0)
            + image_in * (price.image_in or 0)
            + image_out * price.image_out
        ) / 1_000_000
        return round(cost, 6)
    table = dict(price.per_image)
    return table.get(quality or "medium", table.get("medium"))


# ---- adapter -------------------------------------------------------------------------------

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class OpenAIProvider(RemoteProvider[openai.OpenAI]):
    """GPT image models through `client.images.generate`."""

    name = "openai"
    label = "OpenAI"
    key_setting = "OPENAI_API_KEY"
    models = MODELS

    def validate(self, model_id: str, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        cleaned = super().validate(model_id, prompt, params)
        if cleaned.get("background") == "transparent" and cleaned.get("output_format") == "jpeg":
            raise ValidationError(
                "A transparent background needs png or webp output, not jpeg.",
                reason="transparent_needs_png",
            )
        size_for(model_id, cleaned.get("aspect_ratio"), cleaned.get("image_size"))
        return cleaned

    def _build_client(self) -> openai.OpenAI:
        """No SDK retries: the job queue owns retries."""
        kwargs: dict[str, Any] = {"max_retries": 0, "timeout": self.timeout}
        if self.base_url:
            kwargs["base_url"] = self.base_url
        return openai.OpenAI(api_key=self.api_key, **kwargs)

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        """`images.generate`; with reference images, `images.edit` with them as the images (the
        endpoint OpenAI documents for generating from references), no mask."""
        if req.references:
            first, *rest = req.references
            req = replace(
                req, input_image=first[0], input_mime=first[1], references=tuple(rest), mask=None
            )
            return self._run(req, edit=True)
        return self._run(req, edit=False)

    def edit(self, req: GenerationRequest) -> GeneratedImage:
        """Edit `req.input_image` as the prompt says (`client.images.edit`, multipart)."""
        return self._run(req, edit=True)

    def _run(self, req: GenerationRequest, *, edit: bool) -> GeneratedImage:
        if not self.api_key:
            raise AuthFailed(self.unavailable_reason() or "OpenAI is not configured.")
        if edit and not req.input_image:
            raise InvalidRequest("An edit needs a source image.")
        params = req.params
        # Always name the model: the API's fallback default is a retired DALL·E model.
        call: dict[str, Any] = {"model": req.model, "prompt": req.prompt, "n": 1}
        size = size_for(req.model, params.get("aspect_ratio"), params.get("image_size"))
        if size:
            call["size"] = size
        if "quality" in params:
            call["quality"] = QUALITY[params["quality"]]
        for name in ("background", "output_format"):
            if name in params:
                call[name] = params[name]
        safety_id = hashed_user_ref(req.user_ref)
        if safety_id:
            call["safety_identifier"] = safety_id
        images = self.client().images.with_raw_response
        try:
            if edit:
                if req.input_image is None:
                    raise InvalidRequest("This edit has no source image.")
                raw = images.edit(**edit_fields(req), **call)
            else:
                raw = images.generate(**call)
            response = raw.parse()
        except openai.APIError as exc:
            raise self._classify(exc, req.model) from None
        except (ValueError, TypeError):  # a 200 whose JSON does not parse
            raise Transient(_UNREADABLE) from None
        request_id = raw.headers.get("x-request-id")
        if not isinstance(response, ImagesResponse):  # e.g. an HTML page from a proxy
            raise Transient(_UNREADABLE)
        # The SDK does not validate responses: `data` may hold anything the server sent.
        data_items = response.data
        if data_items is not None and not isinstance(data_items, list):
            raise Transient(_UNREADABLE)
        item = data_items[0] if data_items else None
        if item is not None and not hasattr(item, "b64_json"):
            raise Transient(_UNREADABLE)
        if item is None or not item.b64_json:
            raise Transient("OpenAI answered without an image; the job will retry.")
        try:
            data = base64.b64decode(item.b64_json, validate=True)
        except (binascii.Error, ValueError):
            raise Transient("OpenAI sent an image that could not be decoded.") from None
        # Only a look at the leading bytes: the worker verifies every image before storing it.
        mime = sniff_mime(data)
        if mime is None:
            raise Transient("OpenAI sent a file that is not an image; the job will retry.")
        usage = response.usage.model_dump(exclude_none=True) if response.usage else None
        quality = response.quality or call.get("quality")
        meta: dict[str, Any] = {
            "provider": self.name,
            "model": req.model,
            "mime": mime,
            "bytes": len(data),
            "size": response.size or size,
            "quality": quality,
            "background": response.background,
            "output_format": response.output_format or params.get("output_format"),
            "request_id": request_id,
            "usage": usage,
            "estimated_cost_usd": estimate_cost(req.model, quality, usage),
            "watermark": "C2PA",
        }
        return GeneratedImage(
            data=data, mime=mime, meta={k: v for k, v in meta.items() if v is not None}
        )

    def _classify(self, exc: openai.APIError, model_id: str) -> ProviderError:
        """Map an SDK failure to one of our error kinds, with a message safe to show."""
        if isinstance(exc, openai.APITimeoutError):
            return Transient(
                f"OpenAI did not answer within {self.timeout:.0f} s; the job will retry."
            )
        if isinstance(exc, openai.APIConnectionError):
            return Transient("Could not reach OpenAI; the job will retry.")
        if not isinstance(exc, openai.APIStatusError):
            return Transient(_UNREADABLE)
        status = exc.status_code
        code = (exc.code or "").lower()
        detail = plain_message(_body_message(exc), [self.api_key])
        if status == 400 and code in ("moderation_blocked", "content_policy_violation"):
            flagged = re.search(r"safety_violations=\[([^\]]*)\]", detail)
            why = f" (flagged: {flagged.group(1)})" if flagged and flagged.group(1) else ""
            return SafetyBlocked(
                f"OpenAI's safety system rejected this request{why}. "
                "Change the prompt and try again."
            )
        if status == 401:
            return AuthFailed("OpenAI rejected the API key; check OPENAI_API_KEY.")
        if status == 403:
            return AuthFailed(
                "OpenAI refused access: the organisation may need to be verified for GPT image "
                "models, or this country or region is not supported."
            )
        if status == 404:
            return ModelUnavailable(
                f"OpenAI does not offer the model {model_id} (it may have been retired); "
                "choose another model."
            )
        if status == 429:
            if code in _QUOTA_CODES or (exc.type or "").lower() in _QUOTA_CODES:
                return QuotaExhausted(
                    "The OpenAI account has no quota or credits left; add credits, then retry."
                )
            return Transient(
                "OpenAI is rate-limiting requests; the job will retry.",
                retry_after=retry_after_seconds(exc.response.headers),
            )
        if status >= 500 or status in (408, 409):
            return Transient(
                f"OpenAI had a server problem (HTTP {status}); the job will retry.",
                retry_after=retry_after_seconds(exc.response.headers),
            )
        suffix = f": {detail}" if detail else "."
        return InvalidRequest(f"OpenAI refused the request{suffix}")


def _body_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        return str(body.get("message") or "")
    return ""


# ---- registration (core.providers.registry) ------------------------------------------------

PROVIDER = ProviderSpec(
    OpenAIProvider, base_url_env="OPENAI_BASE_URL", default_model_env="OPENAI_DEFAULT_MODEL"
)
