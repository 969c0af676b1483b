"""The provider contract: model catalogue as data, one request/result shape, and the closed
set of error kinds the worker branches on."""

from __future__ import annotations

import abc
import math
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Generic, Self, TypeVar

from core.domain.errors import ProviderUnavailable, ValidationError
from core.domain.settings import Variables

# Common parameters every adapter maps: a model's Capabilities list the
# values it accepts (quality tiers: draft / standard / high / max).
SEED_MAX = 2_147_483_647
NEGATIVE_PROMPT_MAX = 2_000
# Per-request timeout of the remote adapters (seconds).
TIMEOUT_SECONDS = 120.0
# The longest wait before a retry that a provider may ask for (Retry-After, RetryInfo, the
# demo's `[fail:transient:N]`). Longer, infinite or absurd figures are cut to it, so no
# provider-supplied number can overflow the retry time or park a job for ever.
MAX_RETRY_AFTER_SECONDS = 600.0


def clamp_retry_after(value: float | None) -> float | None:
    """A provider's retry delay made safe to add to a date: None when absent or NaN, 0 for a
    negative one, at most MAX_RETRY_AFTER_SECONDS (infinity included)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return MAX_RETRY_AFTER_SECONDS if value > 0 else 0.0
    except (TypeError, ValueError):
        return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def utc_today() -> date:
    """Today's date in UTC: the one clock every shutdown check reads (tests freeze it with
    time-machine). A model is shut down from 00:00 UTC of its `shuts_down_on` date."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Capabilities:
    """What a model accepts. An empty tuple / False means the option is not supported."""

    aspect_ratios: tuple[str, ...] = ("1:1",)
    qualities: tuple[str, ...] = ()
    image_sizes: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()
    backgrounds: tuple[str, ...] = ()
    output_formats: tuple[str, ...] = ()
    seed: bool = False
    negative_prompt: bool = False
    edit: bool = False
    max_prompt_chars: int = 4_000
    # How many input images (an edit's source plus references) one request may carry; 0 = none.
    max_input_images: int = 0

    def supported_params(self) -> set[str]:
        """Names of the common parameters this model takes."""
        names = {"aspect_ratio"} if self.aspect_ratios else set()
        for name, values in (
            ("quality", self.qualities),
            ("image_size", self.image_sizes),
            ("style", self.styles),
            ("background", self.backgrounds),
            ("output_format", self.output_formats),
        ):
            if values:
                names.add(name)
        if self.seed:
            names.add("seed")
        if self.negative_prompt:
            names.add("negative_prompt")
        return names


@dataclass(frozen=True)
class ModelInfo:
    """One entry of a provider's catalogue. A model with `shuts_down_on` is retired from that
    UTC date on: hidden from pickers, refused on submit, its queued jobs failed, and retries
    moved to `replacement` (a model id of the same provider)."""

    id: str
    label: str
    capabilities: Capabilities
    default: bool = False
    notes: str = ""
    price_per_image_usd: float | None = None  # an estimate, see README
    deprecated_on: date | None = None  # when the provider announced the shutdown
    shuts_down_on: date | None = None
    replacement: str | None = None

    def is_shut_down(self, today: date) -> bool:
        return self.shuts_down_on is not None and today >= self.shuts_down_on

    def shuts_down_within(self, today: date, days: int) -> bool:
        """True while the shutdown is still ahead and at most `days` days away."""
        if self.shuts_down_on is None:
            return False
        return 0 < (self.shuts_down_on - today).days <= days

    def shutdown_message(self) -> str:
        """Why a request for this model is refused, naming the replacement."""
        return f"{self.id} shut down on {self.shuts_down_on}; use {self.replacement}."

    def shutdown_error(self) -> ValidationError:
        """The refusal of a request for this model after its shutdown (the message above)."""
        return ValidationError(
            self.shutdown_message(),
            reason="model_shut_down",
            params={
                "model": self.id,
                "date": str(self.shuts_down_on or ""),
                "replacement": self.replacement or "",
            },
        )

    def switch_notice(self, replacement_id: str) -> str:
        """What a user is told when a request for this model moves to its replacement."""
        return f"{self.id} shut down on {self.shuts_down_on}, so {replacement_id} is used instead."

    def upcoming_shutdown(self, today: date) -> str | None:
        """The picker's marker ("shuts down on DATE") while the shutdown is ahead, else None."""
        if self.shuts_down_on is None or self.is_shut_down(today):
            return None
        return f"shuts down on {self.shuts_down_on}"


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request handed to an adapter. `params` only holds supported keys."""

    model: str
    prompt: str
    params: dict[str, Any] = field(default_factory=dict)
    user_ref: str | None = None  # a hashed per-user id providers may take for abuse tracking
    request_id: str | None = None  # our job id: stable across retries of the same job
    input_image: bytes | None = None  # edit source
    input_mime: str | None = None
    # The internal mask convention (core.domain.uploads): greyscale PNG the source's size,
    # white = change. Each adapter converts it to its provider's convention.
    mask: bytes | None = None
    # Further input images (references, extra edit images) as (bytes, mime).
    references: tuple[tuple[bytes, str], ...] = ()


@dataclass(frozen=True)
class GeneratedImage:
    """Bytes exactly as the provider returned them, their MIME type, and what we learnt."""

    data: bytes
    mime: str
    meta: dict[str, Any] = field(default_factory=dict)


# ---- error kinds (closed set; the worker decides retries from the class alone) -------------


class ProviderError(Exception):
    """A provider failure. `message` is in plain words and safe to show to a user."""

    code: ClassVar[str] = "provider_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = clamp_retry_after(retry_after)


class Transient(ProviderError):
    """429 rate limit, 5xx, timeout, connection error: worth retrying later."""

    code = "transient"
    retryable = True


class SafetyBlocked(ProviderError):
    code = "safety_blocked"


class InvalidRequest(ProviderError):
    code = "invalid_request"


class AuthFailed(ProviderError):
    code = "auth_failed"


class QuotaExhausted(ProviderError):
    code = "quota_exhausted"


class ModelUnavailable(ProviderError):
    code = "model_unavailable"


@dataclass(frozen=True)
class ProviderConfig:
    """What the registry hands an adapter to build it: the values of the variables its spec
    names (key, base URL, default model), and every variable for anything else it reads."""

    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    default_model: str | None = None
    variables: Variables = field(default_factory=Variables, repr=False)


class Provider:
    """Base of every adapter. Subclasses declare `name`, `label`, `models` (and `key_setting`,
    the variable holding their key) and implement `generate` (and `edit` where a model has the
    `edit` capability). The registry builds them with `from_config`."""

    name: ClassVar[str]
    label: ClassVar[str]
    key_setting: ClassVar[str | None] = None  # e.g. "OPENAI_API_KEY"
    models: ClassVar[tuple[ModelInfo, ...]]

    def __init__(self, *, api_key: str | None = None, default_model: str | None = None) -> None:
        self.api_key = api_key
        self._default_model = default_model

    @classmethod
    def from_config(cls, config: ProviderConfig) -> Self:
        """The adapter configured from settings; adapters taking more override this."""
        return cls(api_key=config.api_key, default_model=config.default_model)

    def available(self) -> bool:
        """True when the provider can be called (its key is configured)."""
        return self.key_setting is None or bool(self.api_key)

    def unavailable_reason(self) -> str | None:
        if self.available():
            return None
        return f"{self.label} is not configured: set {self.key_setting}."

    def unavailable_error(self) -> ProviderUnavailable:
        """The refusal of a request to this provider while it has no key."""
        return ProviderUnavailable(
            self.unavailable_reason() or "Provider unavailable.",
            reason="provider_not_configured",
            params={"provider": self.label, "setting": self.key_setting or ""},
        )

    def active_models(self) -> list[ModelInfo]:
        """The models that have not shut down as of today (UTC)."""
        today = utc_today()
        return [m for m in self.models if not m.is_shut_down(today)]

    def is_shut_down(self, model: ModelInfo) -> bool:
        return model.is_shut_down(utc_today())

    def successor(self, model_id: str) -> ModelInfo:
        """The model to use today for `model_id`: itself while it runs, else its named
        replacement (followed on while that one has shut down too)."""
        model = self.model(model_id)
        seen = {model.id}
        while self.is_shut_down(model):
            if model.replacement is None or model.replacement in seen:
                raise model.shutdown_error()
            model = self.model(model.replacement)
            seen.add(model.id)
        return model

    @property
    def default_model(self) -> ModelInfo:
        wanted = self._default_model
        active = self.active_models()
        for model in active:
            if model.id == wanted:
                return model
        return next((m for m in active if m.default), active[0])

    def model(self, model_id: str) -> ModelInfo:
        for model in self.models:
            if model.id == model_id:
                return model
        known = ", ".join(m.id for m in self.active_models())
        raise ValidationError(
            f"Unknown {self.label} model {model_id!r}. Choose one of: {known}.",
            reason="unknown_model",
            params={"provider": self.label, "model": str(model_id), "choices": known},
        )

    def validate(self, model_id: str, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
        """Check a request against the model's capabilities; return the cleaned params.
        Raises ValidationError with a clear message; never calls the network."""
        model = self.model(model_id)
        if self.is_shut_down(model):
            raise model.shutdown_error()
        return validate_params(model, prompt, params)

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        raise InvalidRequest(f"{self.label} cannot generate images.")

    def edit(self, req: GenerationRequest) -> GeneratedImage:
        raise InvalidRequest(f"{self.label} cannot edit images.")

    def vary(self, req: GenerationRequest) -> GeneratedImage:
        """A variation of `req.input_image` (the parent's image): by default a new generation
        of the same prompt and options (a new seed); adapters with a remix override this."""
        return self.generate(replace(req, input_image=None, input_mime=None))


ClientT = TypeVar("ClientT")


class RemoteProvider(Provider, Generic[ClientT], abc.ABC):
    """Base of the adapters that call a remote API: a base URL, a timeout, and one client
    built on first use. The client is built once under a lock and kept referenced for the
    provider's lifetime: a client that is garbage collected closes its connections, which can
    cut a request in flight. Subclasses implement `_build_client`."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        default_model: str | None = None,
        base_url: str | None = None,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        super().__init__(api_key=api_key, default_model=default_model)
        self.base_url = base_url
        self.timeout = timeout
        self._client: ClientT | None = None
        self._client_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: ProviderConfig) -> Self:
        return cls(
            api_key=config.api_key, default_model=config.default_model, base_url=config.base_url
        )

    def client(self) -> ClientT:
        """The client (it pools connections and is thread-safe), built on first use."""
        with self._client_lock:
            if self._client is None:
                self._client = self._build_client()
            return self._client

    @abc.abstractmethod
    def _build_client(self) -> ClientT:
        """The SDK or HTTP client for this provider, configured from key, base URL, timeout."""


def validate_params(model: ModelInfo, prompt: str, params: dict[str, Any]) -> dict[str, Any]:
    """Common validation of prompt and parameters against a model's capabilities."""
    caps = model.capabilities
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValidationError("Write a prompt first: it cannot be empty.", reason="empty_prompt")
    if len(prompt) > caps.max_prompt_chars:
        raise ValidationError(
            f"The prompt is {len(prompt):,} characters; {model.label} takes at most "
            f"{caps.max_prompt_chars:,}.",
            reason="prompt_too_long",
            params={"length": len(prompt), "model": model.label, "max": caps.max_prompt_chars},
        )
    if not isinstance(params, dict):
        raise ValidationError(
            "Options must be an object of name → value.", reason="options_not_object"
        )
    cleaned: dict[str, Any] = {}
    for name, value in params.items():
        value = _clean_param(model, name, value)
        if value is not None:
            cleaned[name] = value
    return cleaned


def compatible_params(model: ModelInfo, params: dict[str, Any]) -> dict[str, Any]:
    """The options of `params` that `model` accepts, each checked on its own; the others are
    dropped (a request moved to a replacement model keeps what still applies)."""
    kept: dict[str, Any] = {}
    for name, value in params.items():
        try:
            cleaned = _clean_param(model, name, value)
        except ValidationError:
            continue
        if cleaned is not None:
            kept[name] = cleaned
    return kept


def _clean_param(model: ModelInfo, name: str, value: Any) -> Any:
    """One option checked against the model's capabilities: its cleaned value, or None when
    it is empty (left out). Raises ValidationError with a clear message."""
    caps = model.capabilities
    if value is None or value == "":
        return None
    if name not in caps.supported_params():
        raise ValidationError(
            f"{model.label} does not support the option {name!r}.",
            reason="option_unsupported",
            params={"model": model.label, "option": str(name)},
        )
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SEED_MAX:
            raise ValidationError(
                f"seed must be a whole number from 0 to {SEED_MAX}.",
                reason="seed_range",
                params={"max": SEED_MAX},
            )
        return value
    if name == "negative_prompt":
        if not isinstance(value, str) or len(value) > NEGATIVE_PROMPT_MAX:
            raise ValidationError(
                f"negative_prompt must be text of at most {NEGATIVE_PROMPT_MAX} characters.",
                reason="negative_prompt_too_long",
                params={"max": NEGATIVE_PROMPT_MAX},
            )
        return value.strip() or None
    allowed = {
        "aspect_ratio": caps.aspect_ratios,
        "quality": caps.qualities,
        "image_size": caps.image_sizes,
        "style": caps.styles,
        "background": caps.backgrounds,
        "output_format": caps.output_formats,
    }[name]
    if value not in allowed:
        raise ValidationError(
            f"{name} {value!r} is not available for {model.label}; "
            f"choose one of: {', '.join(allowed)}.",
            reason="option_value_unavailable",
            params={
                "option": str(name),
                "value": str(value),
                "model": model.label,
                "choices": ", ".join(allowed),
            },
        )
    return value
