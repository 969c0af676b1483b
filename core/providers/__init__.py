"""Image providers: the adapter contract (`base`), what each adapter declares about itself
(`spec`), and the registry that lists and builds them (`registry`)."""

from __future__ import annotations

from core.providers.registry import build_providers, provider_names, provider_specs
from core.providers.spec import ProviderSpec

__all__ = ["ProviderSpec", "build_providers", "provider_names", "provider_specs"]
