"""Google Gemini native image generation ("Nano Banana" models) through `google-genai`,
`client.models.generate_content` with `response_modalities=["IMAGE"]`.

Imagen and `generate_images` are shut down; they stay in the catalogue only so a request
for them gets a message naming the replacement. Safety blocks arrive as HTTP 200 replies
without an image, so the reply is inspected, not only the status. SDK retries are off.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import httpx
import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

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
from core.providers.masks import hint_image
from core.providers.spec import ProviderSpec
from core.providers.util import plain_message, retry_after_seconds

MAX_PROMPT = 32_000

# ---- catalogue -----------------------------------------------------------------------------

_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
_RATIOS_WIDE = (*_RATIOS, "1:4", "4:1", "1:8", "8:1")
_SIZES = ("1K", "2K", "4K")

_RETIRED = Capabilities(aspect_ratios=("1:1",))
# Gemini 3 image models take up to 14 reference images
# (https://ai.google.dev/gemini-api/docs/image-generation); Gemini 2.5 Flash Image works best
# with up to 3, so its catalogue entry says 3.
_COMMON: dict[str, Any] = {"max_prompt_chars": MAX_PROMPT, "edit": True, "max_input_images": 14}

# Shutdowns as Google announces them on https://ai.google.dev/gemini-api/docs/deprecations
# (checked 2026-12-01; its newest copy found lists gemini-3.1-flash-image and
# gemini-3-pro-image with "No shutdown date announced", and the two image previews shut
# down on June 25, 2026 with the GA models as their replacements). Imagen 4 shut down on
# 2026-08-17 and imagen-3.0-generate-002 on 2025-11-10; Firebase's Imagen migration page
# (https://firebase.google.com/docs/ai-logic/imagen-models-migration) names Nano Banana as
# the replacement. gemini-2.5-flash-image: that page lists it as deprecated with a shutdown
# date of "earliest October 2026" / "October 2, 2026" in older copies, and Google says such
# dates are the earliest possible ones and the exact date is announced with notice; no
# exact date was found (a third-party citation gives 2027-03-15), so none is set here: a
# 404 from Gemini still fails its jobs as ModelUnavailable.
_PREVIEW_SHUTDOWN = date(2026, 6, 25)
_IMAGEN_SHUTDOWN = date(2026, 8, 17)

MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        "gemini-nano-banana-2.1",
        "Nano Banana 2.1",
        Capabilities(aspect_ratios=_RATIOS_WIDE, image_sizes=_SIZES, **_COMMON),
        default=True,
        notes="GA 2026-10; Google's named replacement for Imagen.",
        price_per_image_usd=0.034,
    ),
    ModelInfo(
        "gemini-3.1-flash-image",
        "Nano Banana 2 (Gemini 3.1 Flash Image)",
        Capabilities(aspect_ratios=_RATIOS_WIDE, image_sizes=_SIZES, **_COMMON),
        price_per_image_usd=0.067,
    ),
    ModelInfo(
        "gemini-3.1-flash-lite-image",
        "Nano Banana 2 Lite",
        Capabilities(aspect_ratios=_RATIOS, image_sizes=("1K",), **_COMMON),
        notes="The cheapest and fastest; 1K only.",
    ),
    ModelInfo(
        "gemini-3-pro-image",
        "Nano Banana Pro (Gemini 3 Pro Image)",
        Capabilities(aspect_ratios=_RATIOS, image_sizes=_SIZES, **_COMMON),
        notes="Highest quality; slower.",
        price_per_image_usd=0.134,
    ),
    ModelInfo(
        "gemini-2.5-flash-image",
        "Nano Banana (Gemini 2.5 Flash Image)",
        Capabilities(aspect_ratios=_RATIOS, **{**_COMMON, "max_input_images": 3}),
        notes="About 1024 px output; no size choice. Deprecated by Google; no exact shutdown "
        "date announced yet.",
        price_per_image_usd=0.039,
    ),
    ModelInfo(
        "gemini-3-pro-image-preview",
        "Gemini 3 Pro Image (preview)",
        _RETIRED,
        shuts_down_on=_PREVIEW_SHUTDOWN,
        replacement="gemini-3-pro-image",
    ),
    ModelInfo(
        "gemini-3.1-flash-image-preview",
        "Gemini 3.1 Flash Image (preview)",
        _RETIRED,
        shuts_down_on=_PREVIEW_SHUTDOWN,
        replacement="gemini-3.1-flash-image",
    ),
    *(
        ModelInfo(
            model_id,
            label,
            _RETIRED,
            shuts_down_on=_IMAGEN_SHUTDOWN,
            replacement="gemini-nano-banana-2.1",
        )
        for model_id, label in (
            ("imagen-4.0-generate-001", "Imagen 4"),
            ("imagen-4.0-ultra-generate-001", "Imagen 4 Ultra"),
            ("imagen-4.0-fast-generate-001", "Imagen 4 Fast"),
        )
    ),
    ModelInfo(
        "imagen-3.0-generate-002",
        "Imagen 3",
        _RETIRED,
        shuts_down_on=date(2025, 11, 10),
        replacement="gemini-nano-banana-2.1",
    ),
)

# Estimated USD per image by size tier (token-priced by Google; see README).
PRICES: dict[str, dict[str, float]] = {
    "gemini-nano-banana-2.1": {"1K": 0.034},
    "gemini-3.1-flash-image": {"1K": 0.067},
    "gemini-3-pro-image": {"1K": 0.134, "2K": 0.134, "4K": 0.24},
    "gemini-2.5-flash-image": {"1K": 0.039},
}

# Reasons in words. prompt_feedback.block_reason and candidate finish_reason values.
REASONS = {
    "SAFETY": "it was flagged by Gemini's safety filters",
    "OTHER": "Gemini declined it without giving a reason",
    "BLOCKLIST": "it contains blocked terms",
    "PROHIBITED_CONTENT": "it asks for prohibited content",
    "IMAGE_SAFETY": "the generated image was flagged by Gemini's safety filters",
    "IMAGE_PROHIBITED_CONTENT": "the generated image contained prohibited content",
    "IMAGE_RECITATION": "the generated image was too close to existing material",
    "IMAGE_OTHER": "Gemini withheld the generated image without giving a reason",
    "NO_IMAGE": "Gemini did not produce an image for it",
    "RECITATION": "the result was too close to existing material",
    "SPII": "it involves sensitive personal information",
    "LANGUAGE": "it is in a language Gemini does not support",
    "MODEL_ARMOR": "it was stopped by Model Armor",
    "JAILBREAK": "it looks like an attempt to bypass safety rules",
}
_NOT_SAFETY = {"STOP", "FINISH_REASON_UNSPECIFIED", "MAX_TOKENS", "MALFORMED_RESPONSE"}


# Gemini has no mask field: the instruction that goes with the mask's hint image.
MASK_HINT = (
    "Edit the first image. The second image is the same picture with the area to change "
    "painted red: change only that area and keep everything else as it is."
)


def _reference_parts(req: GenerationRequest) -> list[types.Part]:
    return [types.Part.from_bytes(data=data, mime_type=mime) for data, mime in req.references]


# ---- adapter -------------------------------------------------------------------------------


class GeminiProvider(RemoteProvider[genai.Client]):
    """Gemini image models through `client.models.generate_content`."""

    name = "gemini"
    label = "Google Gemini"
    key_setting = "GEMINI_API_KEY"
    models = MODELS

    def _build_client(self) -> genai.Client:
        """No retry_options: the job queue owns retries."""
        options = types.HttpOptions(timeout=int(self.timeout * 1000))
        if self.base_url:
            options.base_url = self.base_url
        return genai.Client(api_key=self.api_key, vertexai=False, http_options=options)

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        """The prompt, then any reference images as inline parts (Gemini 3 takes up to 14)."""
        return self._run(req, [req.prompt, *_reference_parts(req)])

    def edit(self, req: GenerationRequest) -> GeneratedImage:
        """Edit `req.input_image` as the prompt says: the image goes along as an inline part.
        Gemini has no mask field: with a mask, a copy of the source with the area painted red
        follows as a second image, and the text says so (a hint, not a guarantee; the editor
        tells the user). References come after."""
        if not req.input_image:
            raise InvalidRequest("An edit needs a source image.")
        source = types.Part.from_bytes(
            data=req.input_image, mime_type=req.input_mime or "image/png"
        )
        if req.mask is None:
            return self._run(req, [req.prompt, source, *_reference_parts(req)])
        hint = types.Part.from_bytes(
            data=hint_image(req.input_image, req.mask), mime_type="image/png"
        )
        text = f"{req.prompt}\n\n{MASK_HINT}"
        return self._run(req, [text, source, hint, *_reference_parts(req)])

    def _run(self, req: GenerationRequest, contents: list[Any]) -> GeneratedImage:
        if not self.api_key:
            raise AuthFailed(self.unavailable_reason() or "Gemini is not configured.")
        image_config: dict[str, Any] = {}
        if "aspect_ratio" in req.params:
            image_config["aspect_ratio"] = req.params["aspect_ratio"]
        if "image_size" in req.params:
            image_config["image_size"] = req.params["image_size"]
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(**image_config) if image_config else None,
        )
        try:
            response = self.client().models.generate_content(
                model=req.model, contents=contents, config=config
            )
        except genai_errors.APIError as exc:
            raise self._classify(exc, req.model) from None
        except (httpx.TimeoutException, httpx2.TimeoutException):
            raise Transient(
                f"Gemini did not answer within {self.timeout:.0f} s; the job will retry."
            ) from None
        except (httpx.TransportError, httpx2.TransportError):
            raise Transient("Could not reach Gemini; the job will retry.") from None
        except ValueError:
            # We send no Vertex-only option the SDK would refuse, so this is a reply the SDK
            # could not parse (not JSON, or not the expected shape).
            raise Transient(
                "Gemini sent a reply that could not be read; the job will retry."
            ) from None
        data, declared_mime = self._image_from(response)
        # Only a look at the leading bytes: the worker verifies every image before storing it.
        mime = sniff_mime(data)
        if mime is None:
            raise Transient("Gemini sent a file that is not an image; the job will retry.")
        usage = (
            response.usage_metadata.model_dump(mode="json", exclude_none=True)
            if response.usage_metadata
            else None
        )
        tier = req.params.get("image_size", "1K")
        meta: dict[str, Any] = {
            "provider": self.name,
            "model": req.model,
            "model_version": response.model_version,
            "mime": mime,
            "bytes": len(data),
            "response_id": response.response_id,
            "usage": usage,
            "estimated_cost_usd": PRICES.get(req.model, {}).get(tier),
            "watermark": "SynthID",
        }
        if declared_mime != mime:
            meta["declared_mime"] = declared_mime
        return GeneratedImage(
            data=data, mime=mime, meta={k: v for k, v in meta.items() if v is not None}
        )

    def _image_from(self, response: types.GenerateContentResponse) -> tuple[bytes, str]:
        """The first non-thought image part, or the reason there is none as an error."""
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason:
            reason = _enum_name(feedback.block_reason)
            raise SafetyBlocked(
                f"Gemini blocked this prompt: {REASONS.get(reason, reason.lower())}."
                + _extra(feedback.block_reason_message, self.api_key)
            )
        candidates = response.candidates or []
        if not candidates:
            raise Transient("Gemini answered without any result; the job will retry.")
        candidate = candidates[0]
        texts: list[str] = []
        for part in (candidate.content.parts or []) if candidate.content else []:
            if part.thought:  # interim "thinking" output, never the answer
                continue
            blob = part.inline_data
            if blob is not None and blob.data and (blob.mime_type or "").startswith("image/"):
                return blob.data, blob.mime_type or "image/png"
            if part.text:
                texts.append(part.text)
        reason = _enum_name(candidate.finish_reason) if candidate.finish_reason else "STOP"
        if reason not in _NOT_SAFETY:
            raise SafetyBlocked(
                f"Gemini did not return an image: {REASONS.get(reason, reason.lower())}."
                + _extra(candidate.finish_message, self.api_key)
            )
        if texts:
            said = plain_message(" ".join(texts), [self.api_key], limit=200)
            raise SafetyBlocked(f"Gemini answered with text instead of an image: “{said}”")
        raise Transient(f"Gemini returned no image (finish reason {reason}); the job will retry.")

    def _classify(self, exc: genai_errors.APIError, model_id: str) -> ProviderError:
        """Map an SDK failure to one of our error kinds, with a message safe to show."""
        status = int(exc.code or 0)
        details = _error_details(exc)
        reasons = {d.get("reason") for d in details if isinstance(d, dict)}
        detail = plain_message(exc.message, [self.api_key])
        if status == 400 and "API_KEY_INVALID" in reasons:
            return AuthFailed("Gemini rejected the API key; check GEMINI_API_KEY.")
        if status == 400 and exc.status == "FAILED_PRECONDITION" and "location" in detail.lower():
            return AuthFailed(
                "Gemini is not available from this server's country or region "
                "(or needs billing enabled there)."
            )
        if status in (401, 403):
            return AuthFailed(
                "Gemini refused access with this API key (permission denied); check "
                "GEMINI_API_KEY and that the Generative Language API is enabled for it."
            )
        if status == 404:
            return ModelUnavailable(
                f"Gemini does not offer the model {model_id} (it may have been shut down); "
                "choose another model."
            )
        if status == 429:
            quota_ids = [
                str(v.get("quotaId", ""))
                for d in details
                if isinstance(d, dict)
                for v in d.get("violations", []) or []
                if isinstance(v, dict)
            ]
            if any("perday" in q.lower() for q in quota_ids):
                return QuotaExhausted(
                    "The Gemini daily quota for this key is used up; try again tomorrow or "
                    "raise the quota."
                )
            return Transient(
                "Gemini is rate-limiting requests; the job will retry.",
                retry_after=_retry_delay(details) or _header_retry_after(exc),
            )
        if status >= 500 or status == 408:
            return Transient(
                f"Gemini had a server problem (HTTP {status}); the job will retry.",
                retry_after=_header_retry_after(exc),
            )
        suffix = f": {detail}" if detail else "."
        return InvalidRequest(f"Gemini refused the request{suffix}")


def _enum_name(value: object) -> str:
    return str(getattr(value, "value", value) or "").upper()


def _extra(message: str | None, api_key: str | None) -> str:
    text = plain_message(message, [api_key], limit=200)
    return f" ({text})" if text else ""


def _error_details(exc: genai_errors.APIError) -> list[Any]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    found = error.get("details") if isinstance(error, dict) else None
    return found if isinstance(found, list) else []


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _retry_delay(details: list[Any]) -> float | None:
    """RetryInfo.retryDelay ("47s", "0.5s") in seconds."""
    for item in details:
        if isinstance(item, dict) and "retryDelay" in item:
            match = _DURATION.match(str(item["retryDelay"]))
            if match:
                return float(match.group(1))
    return None


def _header_retry_after(exc: genai_errors.APIError) -> float | None:
    headers = getattr(exc.response, "headers", None)
    return retry_after_seconds(dict(headers)) if headers is not None else None


# ---- registration (core.providers.registry) ------------------------------------------------

PROVIDER = ProviderSpec(
    GeminiProvider,
    key_aliases=("GOOGLE_API_KEY",),
    base_url_env="GEMINI_BASE_URL",
    default_model_env="GEMINI_DEFAULT_MODEL",
)
