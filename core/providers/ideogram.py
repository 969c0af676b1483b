"""Ideogram 3.0 through its REST API with httpx (Ideogram publishes no SDK):
`POST {base}/v1/ideogram-v3/generate`, multipart form, `Api-Key` header. Edits with a mask go
to `POST {base}/v2/image/inpaint/ideogram-3` (the endpoint the deprecation notice of
`/v1/ideogram-v3/edit` names; mask black = change), edits without a mask and variations to
`POST {base}/v1/ideogram-v3/remix` (`image_weight`), references as the one
`character_reference_images` file of generate.

The reply holds a temporary image URL, downloaded at once with the safe download helper.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.domain.errors import ValidationError
from core.domain.images import DownloadFailed, download_image
from core.providers.base import (
    TIMEOUT_SECONDS,
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
from core.providers.masks import ideogram_mask
from core.providers.spec import ProviderSpec
from core.providers.util import plain_message, retry_after_seconds

DEFAULT_BASE_URL = "https://api.ideogram.ai"
GENERATE_PATH = "/v1/ideogram-v3/generate"
# https://developer.ideogram.ai/api-reference/images/inpaint/ideogram-3 (multipart: prompt,
# image, mask; the synchronous reply has the generate shape, `data[]` with `url`, `seed`,
# `is_image_safe`). Replaces the deprecated POST /v1/ideogram-v3/edit, never called.
INPAINT_PATH = "/v2/image/inpaint/ideogram-3"
# https://developer.ideogram.ai/api-reference/api-reference/remix-v3 (image, prompt,
# image_weight 1-100, default 50; the generate fields).
REMIX_PATH = "/v1/ideogram-v3/remix"
DEFAULT_IMAGE_WEIGHT = 50
# Ideogram's 429s carry no Retry-After; wait at least this long before the retry.
RATE_LIMIT_BACKOFF_SECONDS = 10.0

# ---- catalogue -----------------------------------------------------------------------------

# Ideogram writes ratios as "16x9"; ours are "16:9". No 21:9.
ASPECT_RATIOS = (
    "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9",
    "10:16", "16:10", "1:2", "2:1", "1:3", "3:1",
)  # fmt: skip
STYLES = ("auto", "general", "realistic", "design", "fiction")
MAGIC_PROMPT = ("auto", "on", "off")
PRICE_BY_SPEED = {"FLASH": 0.03, "TURBO": 0.03, "DEFAULT": 0.06, "QUALITY": 0.09}

# Lifecycle: https://developer.ideogram.ai/ideogram-api/deprecations (checked 2026-12-01)
# deprecates no model and gives no endpoint a removal date. Its one deprecated endpoint is
# POST /v1/ideogram-v3/edit (since 2026-04-29), which the studio does not call; Ideogram 3.0
# generate (GENERATE_PATH) has no shutdown announced.
MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        "ideogram-3.0",
        "Ideogram 3.0",
        Capabilities(
            aspect_ratios=ASPECT_RATIOS,
            qualities=("draft", "standard", "high"),
            styles=STYLES,
            seed=True,
            negative_prompt=True,
            max_prompt_chars=10_000,
            edit=True,
            # generate takes exactly one character reference image; an edit its source
            max_input_images=1,
        ),
        default=True,
        notes="Strong at text in images. About 1 megapixel. Extra option: magic_prompt.",
        price_per_image_usd=PRICE_BY_SPEED["DEFAULT"],
    ),
)


class IdeogramProvider(RemoteProvider[httpx.Client]):
    """Ideogram 3.0 generate over HTTP."""

    name = "ideogram"
    label = "Ideogram"
    key_setting = "IDEOGRAM_API_KEY"
    models = MODELS

    def __init__(
        self,
        *,
        api_key: str | None = None,
        default_model: str | None = None,
        base_url: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
        draft_speed: str = "TURBO",
        allow_http_downloads: bool | None = None,
    ) -> None:
        base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        super().__init__(
            api_key=api_key, default_model=default_model, base_url=base_url, timeout=timeout
        )
        self.generate_url = base_url + GENERATE_PATH
        self.inpaint_url = base_url + INPAINT_PATH
        self.remix_url = base_url + REMIX_PATH
        self.speeds = {"draft": draft_speed, "standard": "DEFAULT", "high": "QUALITY"}
        # Image links are https in production; an http base URL (a local gateway or a test
        # server) is the one configuration where plain-http image links are accepted.
        self.allow_http_downloads = (
            base_url.startswith("http://") if allow_http_downloads is None else allow_http_downloads
        )

    def validate(self, model_id: str, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        """The common options plus Ideogram's own `magic_prompt` (auto, on or off) and
        `image_weight` (1-100: how closely a remix or variation follows its image)."""
        params = dict(params or {}) if isinstance(params, dict) else params
        magic = params.pop("magic_prompt", None) if isinstance(params, dict) else None
        weight = params.pop("image_weight", None) if isinstance(params, dict) else None
        cleaned = super().validate(model_id, prompt, params)
        if weight not in (None, ""):
            if isinstance(weight, bool) or not isinstance(weight, int) or not 1 <= weight <= 100:
                raise ValidationError("image_weight must be a whole number from 1 to 100.")
            cleaned["image_weight"] = weight
        if magic not in (None, ""):
            if magic not in MAGIC_PROMPT:
                raise ValidationError(
                    f"magic_prompt {magic!r} is not available; choose one of: "
                    f"{', '.join(MAGIC_PROMPT)}.",
                    reason="magic_prompt_unavailable",
                    params={"value": str(magic), "choices": ", ".join(MAGIC_PROMPT)},
                )
            cleaned["magic_prompt"] = magic
        return cleaned

    def _build_client(self) -> httpx.Client:
        """One pooled client; the key is sent per request, never as a default header, so it
        cannot reach the image download host."""
        return httpx.Client(timeout=self.timeout, follow_redirects=False)

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        """generate; a reference image goes as the one `character_reference_images` file."""
        files = [
            ("character_reference_images", _upload("reference", data, mime))
            for data, mime in req.references[:1]
        ]
        return self._call(self.generate_url, req, self._fields(req), files)

    def edit(self, req: GenerationRequest) -> GeneratedImage:
        """With a mask: inpaint (our mask converted: black = change). Without one (a
        whole-image instruction): remix of the source with its image weight."""
        if not req.input_image:
            raise InvalidRequest("An edit needs a source image.")
        source = ("image", _upload("source", req.input_image, req.input_mime))
        if req.mask is None:
            return self.vary(req)
        mask = ("mask", ("mask.png", ideogram_mask(req.mask), "image/png"))
        fields = [f for f in self._fields(req) if f[0] not in ("aspect_ratio", "negative_prompt")]
        return self._call(self.inpaint_url, req, fields, [source, mask])

    def vary(self, req: GenerationRequest) -> GeneratedImage:
        """A variation: remix of the source with `image_weight` (default 50), a new seed."""
        if not req.input_image:
            return self.generate(req)
        fields = self._fields(req)
        weight = req.params.get("image_weight", DEFAULT_IMAGE_WEIGHT)
        fields.append(("image_weight", str(weight)))
        source = ("image", _upload("source", req.input_image, req.input_mime))
        return self._call(self.remix_url, req, fields, [source])

    def _fields(self, req: GenerationRequest) -> list[tuple[str, str]]:
        params = req.params
        speed = self.speeds[params.get("quality", "standard")]
        fields: list[tuple[str, str]] = [("prompt", req.prompt), ("rendering_speed", speed)]
        if "aspect_ratio" in params:
            fields.append(("aspect_ratio", params["aspect_ratio"].replace(":", "x")))
        if "style" in params:
            fields.append(("style_type", params["style"].upper()))
        if "negative_prompt" in params:
            fields.append(("negative_prompt", params["negative_prompt"]))
        if "seed" in params:
            fields.append(("seed", str(params["seed"])))
        if "magic_prompt" in params:
            fields.append(("magic_prompt", params["magic_prompt"].upper()))
        return fields

    def _call(
        self,
        url: str,
        req: GenerationRequest,
        fields: list[tuple[str, str]],
        files: list[tuple[str, tuple[str, bytes, str]]],
    ) -> GeneratedImage:
        if not self.api_key:
            raise AuthFailed(self.unavailable_reason() or "Ideogram is not configured.")
        speed = dict(fields)["rendering_speed"]
        parts: list[tuple[str, tuple[str | None, bytes | str] | tuple[str, bytes, str]]] = [
            (name, (None, value)) for name, value in fields
        ]
        parts += files
        try:
            response = self.client().post(
                url,
                headers={"Api-Key": self.api_key, "Accept": "application/json"},
                files=parts,  # multipart form
            )
        except httpx.TimeoutException:
            raise Transient(
                f"Ideogram did not answer within {self.timeout:.0f} s; the job will retry."
            ) from None
        except httpx.TransportError:
            raise Transient("Could not reach Ideogram; the job will retry.") from None
        if response.status_code != 200:
            raise self._classify(response)
        try:
            body = response.json()
            item = body["data"][0]
        except (ValueError, KeyError, IndexError, TypeError):
            raise Transient("Ideogram sent a reply that could not be read.") from None
        if item.get("is_image_safe") is False:
            raise SafetyBlocked(
                "Ideogram's safety check withheld the generated image (Ideogram still bills "
                "for it). Change the prompt and try again."
            )
        url = item.get("url")
        if not url:
            raise Transient("Ideogram answered without an image link; the job will retry.")
        try:
            data, info = download_image(
                url,
                allow_http=self.allow_http_downloads,
                client=self.client(),
                source="Ideogram",
            )
        except DownloadFailed as exc:
            kind = Transient if exc.transient else InvalidRequest
            raise kind(exc.message) from None
        meta: dict[str, Any] = {
            "provider": self.name,
            "model": req.model,
            "mime": info.mime,
            "width": info.width,
            "height": info.height,
            "bytes": len(data),
            "seed": item.get("seed"),
            "revised_prompt": item.get("prompt"),
            "resolution": item.get("resolution"),
            "style_type": item.get("style_type"),
            "rendering_speed": speed,
            "request_id": response.headers.get("x-request-id"),
            "estimated_cost_usd": PRICE_BY_SPEED.get(speed),
        }
        return GeneratedImage(
            data=data, mime=info.mime, meta={k: v for k, v in meta.items() if v is not None}
        )

    def _classify(self, response: httpx.Response) -> ProviderError:
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        detail = plain_message(body.get("error") or body.get("message"), [self.api_key])
        suffix = f": {detail}" if detail else "."
        if status == 400:
            return InvalidRequest(f"Ideogram refused the request{suffix}")
        if status in (401, 403):
            return AuthFailed(
                "Ideogram rejected the API key or does not allow it this endpoint; "
                "check IDEOGRAM_API_KEY."
            )
        if status == 402:
            why = {
                "insufficient_funds": "the account balance is used up",
                "daily_limit": "the daily limit is reached",
            }.get(str(body.get("reject_reason")), "the balance or plan limit is reached")
            return QuotaExhausted(f"Ideogram cannot take more work: {why}. Top up, then retry.")
        if status == 404:
            return ModelUnavailable("Ideogram no longer offers this endpoint or model.")
        if status == 422:
            return SafetyBlocked(f"Ideogram's safety check refused this prompt{suffix}")
        if status == 429:
            return Transient(
                "Ideogram has too many images in progress; the job will retry.",
                retry_after=retry_after_seconds(response.headers) or RATE_LIMIT_BACKOFF_SECONDS,
            )
        if status >= 500 or status == 408:
            return Transient(
                f"Ideogram had a server problem (HTTP {status}); the job will retry.",
                retry_after=retry_after_seconds(response.headers),
            )
        return InvalidRequest(f"Ideogram refused the request (HTTP {status}){suffix}")


def _upload(stem: str, data: bytes, mime: str | None) -> tuple[str, bytes, str]:
    mime = mime or "image/png"
    ext = {"image/jpeg": "jpg", "image/webp": "webp"}.get(mime, "png")
    return (f"{stem}.{ext}", data, mime)


# ---- registration (core.providers.registry) ------------------------------------------------

PROVIDER = ProviderSpec(
    IdeogramProvider, base_url_env="IDEOGRAM_BASE_URL", default_model_env="IDEOGRAM_DEFAULT_MODEL"
)
