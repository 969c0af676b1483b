"""The demo provider: draws a deterministic picture from the prompt with Pillow, offline and
clearly labelled "DEMO". The embedded default when no key is set; what tests and benchmarks use.

Failure triggers (for tests and UI checks): a prompt containing `[fail:KIND]` raises that
error kind instead of drawing, where KIND is one of `transient`, `safety`, `invalid`, `auth`,
`quota`, `model` or `crash` (a plain RuntimeError, as a bug would). `[fail:transient:5]` also
sets retry_after to 5 seconds (cut to MAX_RETRY_AFTER_SECONDS like any provider's).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import time
from dataclasses import replace
from typing import Any, ClassVar, Self

from PIL import Image, ImageDraw

from core.providers import demo_text
from core.providers.base import (
    SEED_MAX,
    AuthFailed,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    InvalidRequest,
    ModelInfo,
    ModelUnavailable,
    Provider,
    ProviderConfig,
    ProviderError,
    QuotaExhausted,
    SafetyBlocked,
    Transient,
)
from core.providers.spec import ProviderSpec

ASPECT_RATIOS = ("1:1", "3:2", "2:3", "16:9", "9:16", "4:3", "3:4")
# Long side in pixels per quality tier: draft is small and cheap.
LONG_SIDE = {"draft": 256, "standard": 512, "high": 1024}
STYLES = ("geometric", "stripes", "rings", "mono")

LATENCY_ENV = "DEMO_LATENCY_MS"
FAIL_RATE_ENV = "DEMO_FAIL_RATE"

_FAIL_TRIGGER = re.compile(r"\[fail:([a-z]+)(?::(\d+(?:\.\d+)?))?\]", re.IGNORECASE)
_FAILURES: dict[str, tuple[type[BaseException], str]] = {
    "transient": (Transient, "Demo provider simulated a temporary failure."),
    "safety": (SafetyBlocked, "Demo provider blocked this prompt (simulated safety block)."),
    "invalid": (InvalidRequest, "Demo provider rejected the request (simulated)."),
    "auth": (AuthFailed, "Demo provider rejected the key (simulated)."),
    "quota": (QuotaExhausted, "Demo provider quota is used up (simulated)."),
    "model": (ModelUnavailable, "Demo model is unavailable (simulated)."),
    "crash": (RuntimeError, "demo provider simulated crash"),
}

_CAPS = Capabilities(
    aspect_ratios=ASPECT_RATIOS,
    qualities=tuple(LONG_SIDE),
    styles=STYLES,
    seed=True,
    negative_prompt=True,
)


class DemoProvider(Provider):
    """Offline pictures for trying the studio without keys. Not AI: a seeded pattern."""

    name: ClassVar[str] = "demo"
    label: ClassVar[str] = "Demo (offline, no AI)"
    key_setting: ClassVar[str | None] = None
    models: ClassVar[tuple[ModelInfo, ...]] = (
        ModelInfo(
            id="demo-pattern",
            label="Demo pattern",
            capabilities=_CAPS,
            default=True,
            notes="A seeded abstract pattern with the prompt written on it.",
            price_per_image_usd=0.0,
        ),
        ModelInfo(
            id="demo-poster",
            label="Demo poster (can edit)",
            capabilities=Capabilities(
                aspect_ratios=ASPECT_RATIOS,
                qualities=tuple(LONG_SIDE),
                styles=STYLES,
                seed=True,
                negative_prompt=True,
                edit=True,
                max_input_images=4,
            ),
            notes="A poster layout; as an edit, frames the source image.",
            price_per_image_usd=0.0,
        ),
    )

    def __init__(
        self,
        *,
        latency_ms: int = 0,
        fail_rate: float = 0.0,
        default_model: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(api_key=None, default_model=default_model)
        self.latency_ms = max(0, int(latency_ms))
        self.fail_rate = min(1.0, max(0.0, float(fail_rate)))
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ProviderConfig) -> Self:
        """DEMO_LATENCY_MS and DEMO_FAIL_RATE make it slow or flaky on purpose."""
        return cls(
            latency_ms=config.variables.get_int(LATENCY_ENV, 0),
            fail_rate=config.variables.get_float(FAIL_RATE_ENV, 0.0),
            default_model=config.default_model,
        )

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        """Draw the picture for (prompt, params, seed); PNG bytes."""
        self._simulate(req)
        return _render(req, source=None)

    def edit(self, req: GenerationRequest) -> GeneratedImage:
        """demo-poster only. With a mask (internal convention: white = change), the masked
        region gets the demo pattern and every other pixel stays exactly the source's; with
        no mask (a whole-image instruction), the source is framed with the demo label."""
        if not self.model(req.model).capabilities.edit:
            raise InvalidRequest(f"{req.model} cannot edit images.")
        if not req.input_image:
            raise InvalidRequest("An edit needs a source image.")
        self._simulate(req)
        try:
            with Image.open(io.BytesIO(req.input_image)) as src:
                source = src.convert("RGBA" if "A" in src.getbands() else "RGB")
            mask = None
            if req.mask is not None:
                with Image.open(io.BytesIO(req.mask)) as m:
                    mask = m.convert("L")
        except Exception as exc:
            raise InvalidRequest("The source image could not be read (or its mask).") from exc
        if mask is None:
            return _render(req, source=source.convert("RGB"))
        if mask.size != source.size:
            raise InvalidRequest("The mask must be the size of the source image.")
        return _masked_edit(req, source, mask)

    def _simulate(self, req: GenerationRequest) -> None:
        """Latency, prompt triggers, then the random failure rate."""
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        match = _FAIL_TRIGGER.search(req.prompt)
        if match and match.group(1).lower() in _FAILURES:
            kind, message = _FAILURES[match.group(1).lower()]
            if issubclass(kind, ProviderError):
                retry_after = float(match.group(2)) if match.group(2) else None
                raise kind(message, retry_after=retry_after)
            raise kind(message)
        if self.fail_rate:
            with self._rng_lock:
                roll = self._rng.random()
            if roll < self.fail_rate:
                raise Transient("Demo provider simulated a temporary failure.")


PROVIDER = ProviderSpec(DemoProvider, extra_env=(LATENCY_ENV, FAIL_RATE_ENV))


def _dimensions(params: dict[str, Any]) -> tuple[int, int]:
    long_side = LONG_SIDE.get(params.get("quality") or "standard", LONG_SIDE["standard"])
    w_ratio, h_ratio = (int(x) for x in (params.get("aspect_ratio") or "1:1").split(":"))
    if w_ratio >= h_ratio:
        return long_side, max(16, round(long_side * h_ratio / w_ratio))
    return max(16, round(long_side * w_ratio / h_ratio)), long_side


def _seed_for(req: GenerationRequest) -> int:
    """The given seed, or one derived from the prompt and the job id: each image of a batch
    differs (as with a real model), while a retry of the same job draws the same picture."""
    seed = req.params.get("seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    material = req.prompt if req.request_id is None else f"{req.prompt}\0{req.request_id}"
    digest = hashlib.sha256(material.encode()).digest()
    return int.from_bytes(digest[:4], "big") % (SEED_MAX + 1)


def _render(req: GenerationRequest, source: Image.Image | None) -> GeneratedImage:
    started = time.perf_counter()
    params = req.params
    width, height = _dimensions(params)
    seed = _seed_for(req)
    material = json.dumps([req.model, req.prompt, params, seed], sort_keys=True, default=str)
    rng = random.Random(hashlib.sha256(material.encode()).digest())
    style = params.get("style") or ("geometric" if req.model == "demo-pattern" else "rings")

    palette = [tuple(rng.randrange(256) for _ in range(3)) for _ in range(4)]
    if style == "mono":
        grey = sum(palette[0]) // 3
        palette = [(grey, grey, grey), (255 - grey,) * 3, (128, 128, 128), (grey // 2,) * 3]
    img = _gradient(width, height, palette[0], palette[1], horizontal=rng.random() < 0.5)
    draw = ImageDraw.Draw(img, "RGBA")
    _pattern(draw, rng, style, width, height, palette, sparse=source is not None)
    if source is not None:  # an edit frames the source: the pattern stays behind it
        inner = source.copy()
        inner.thumbnail((int(width * 0.8), int(height * 0.8)))
        img.paste(inner, ((width - inner.width) // 2, (height - inner.height) // 2))
    _label(draw, req.prompt, width, height)

    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return GeneratedImage(
        data=out.getvalue(),
        mime="image/png",
        meta={
            "width": width,
            "height": height,
            "seed": seed,
            "style": style,
            "demo": True,
            "render_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


def _masked_edit(req: GenerationRequest, source: Image.Image, mask: Image.Image) -> GeneratedImage:
    """The demo pattern inside the mask, the source untouched outside it (lossless PNG)."""
    started = time.perf_counter()
    painted = _render(replace(req, params={**req.params, "quality": "draft"}), source=None)
    with Image.open(io.BytesIO(painted.data)) as pattern:
        fill = pattern.convert(source.mode).resize(source.size)
    binary = mask.point(lambda v: 255 if v >= 128 else 0)
    result = Image.composite(fill, source, binary)
    out = io.BytesIO()
    result.save(out, format="PNG", compress_level=1)
    meta = {
        "width": source.width,
        "height": source.height,
        "seed": painted.meta.get("seed"),
        "demo": True,
        "masked": True,
        "render_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    return GeneratedImage(data=out.getvalue(), mime="image/png", meta=meta)


def _gradient(
    width: int, height: int, a: tuple[int, ...], b: tuple[int, ...], *, horizontal: bool
) -> Image.Image:
    ramp = Image.linear_gradient("L")  # 256x256, black at top
    if horizontal:
        ramp = ramp.rotate(90, expand=True)
    mask = ramp.resize((width, height))
    return Image.composite(
        Image.new("RGB", (width, height), b), Image.new("RGB", (width, height), a), mask
    )


def _pattern(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    style: str,
    width: int,
    height: int,
    palette: list[tuple[int, ...]],
    *,
    sparse: bool,
) -> None:
    count = 4 if sparse else 14
    unit = min(width, height)
    if style == "stripes":
        step = max(8, unit // rng.randint(6, 14))
        for i, x in enumerate(range(-height, width, step)):
            colour = (*palette[2 + i % 2], 110)
            draw.polygon(
                [
                    (x, 0),
                    (x + step // 2, 0),
                    (x + step // 2 + height, height),
                    (x + height, height),
                ],
                fill=colour,
            )
        return
    if style == "rings":
        cx, cy = rng.randrange(width), rng.randrange(height)
        for i in range(count, 0, -1):
            r = unit * i / count * 0.9
            draw.ellipse(
                (cx - r, cy - r, cx + r, cy + r),
                outline=(*palette[2 + i % 2], 160),
                width=max(2, unit // 60),
            )
        return
    for _ in range(count):  # geometric / mono
        x, y = rng.randrange(width), rng.randrange(height)
        size = rng.randint(unit // 12, unit // 3)
        colour = (*palette[rng.randrange(2, 4)], rng.randint(70, 170))
        if rng.random() < 0.5:
            draw.ellipse((x - size, y - size, x + size, y + size), fill=colour)
        else:
            draw.rectangle((x - size, y - size // 2, x + size, y + size // 2), fill=colour)


def _label(draw: ImageDraw.ImageDraw, prompt: str, width: int, height: int) -> None:
    """The visible "DEMO" badge and the prompt text on a translucent band, in any script
    (see demo_text: a CJK-capable font; what it lacks is written by name, never as boxes)."""
    unit = min(width, height)
    big = demo_text.font(max(12, unit // 8))
    small = demo_text.font(max(10, unit // 22))
    pad = max(4, unit // 40)
    draw.rectangle((0, 0, width, pad * 2 + int(big.size * 1.2)), fill=(0, 0, 0, 150))
    draw.text((pad, pad), "DEMO", font=big, fill=(255, 255, 255, 255))
    text = demo_text.drawable(" ".join(prompt.split()))
    lines = list(demo_text.wrap(draw, text, small, width - 2 * pad))[:4]
    if not lines:
        return
    line_h = int(small.size * 1.4)
    top = height - pad * 2 - line_h * len(lines)
    draw.rectangle((0, top, width, height), fill=(0, 0, 0, 140))
    for i, line in enumerate(lines):
        draw.text((pad, top + pad + i * line_h), line, font=small, fill=(255, 255, 255, 255))
