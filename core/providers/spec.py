"""What a provider module declares about itself, once, for the registry:

    PROVIDER = ProviderSpec(
        OpenAIProvider, base_url_env="OPENAI_BASE_URL", default_model_env="OPENAI_DEFAULT_MODEL"
    )

The adapter class already declares its name, label, key variable (`key_setting`) and model
catalogue; the spec adds the other variables it is configured from. Everything that lists
providers (the Generate page, the API, the live smoke, the tests' scrubbed environment) reads
these specs through `core.providers.registry`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.domain.settings import Variables
from core.providers.base import ModelInfo, Provider, ProviderConfig

# Provider names end up in job rows, session keys and query strings.
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class ProviderSpec:
    """One provider as the registry sees it.

    `adapter` is the Provider subclass (built with its `from_config`); `key_aliases` are
    further variables read for the key when `adapter.key_setting` is unset (GOOGLE_API_KEY for
    GEMINI_API_KEY); `base_url_env` and `default_model_env` name the variables for a gateway
    and the default model; `extra_env` lists any other variable `from_config` reads (documented
    and kept out of test servers like the others)."""

    adapter: type[Provider]
    key_aliases: tuple[str, ...] = ()
    base_url_env: str | None = None
    default_model_env: str | None = None
    extra_env: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.adapter, type) and issubclass(self.adapter, Provider)):
            raise TypeError(f"ProviderSpec needs a Provider subclass, not {self.adapter!r}")
        name = getattr(self.adapter, "name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"{self.adapter.__name__}.name must be lowercase letters, digits, - or _ "
                f"(at most 32, starting with a letter), not {name!r}"
            )
        if not getattr(self.adapter, "label", None) or not getattr(self.adapter, "models", ()):
            raise ValueError(f"{self.adapter.__name__} must declare a label and its models")
        if self.key_aliases and self.adapter.key_setting is None:
            raise ValueError(f"{name}: key_aliases need the adapter's key_setting")

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def label(self) -> str:
        return self.adapter.label

    @property
    def models(self) -> tuple[ModelInfo, ...]:
        return self.adapter.models

    @property
    def key_env(self) -> tuple[str, ...]:
        """The variables read for the key, the one named to people first; () when keyless."""
        key = self.adapter.key_setting
        return () if key is None else (key, *self.key_aliases)

    def env_names(self) -> tuple[str, ...]:
        """Every variable this provider is configured from."""
        named = (self.base_url_env, self.default_model_env)
        return (*self.key_env, *(n for n in named if n), *self.extra_env)

    def config(self, variables: Variables) -> ProviderConfig:
        """The values of this provider's variables."""
        return ProviderConfig(
            api_key=variables.get(*self.key_env) if self.key_env else None,
            base_url=variables.get(self.base_url_env) if self.base_url_env else None,
            default_model=variables.get(self.default_model_env) if self.default_model_env else None,
            variables=variables,
        )

    def build(self, variables: Variables) -> Provider:
        """The adapter configured from `variables`."""
        return self.adapter.from_config(self.config(variables))
