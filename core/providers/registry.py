"""The provider registry: every provider, built-in or installed, comes through the same door.

Built-in providers are the modules of this package that declare `PROVIDER = ProviderSpec(...)`
(found by walking the package, so a new one is one new module). Installed packages add
theirs through the `image_studio.providers` entry-point group, the way llm plugins register
(simonw/llm): in the package's pyproject.toml,

    [project.entry-points."image_studio.providers"]
    acme = "acme_studio.provider:PROVIDER"

where the object named is a ProviderSpec. A plugin that fails to load, is not a ProviderSpec,
or takes a name already in use is left out with an error in the log; the built-ins always win.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

from core.domain.settings import Settings
from core.providers.base import Provider
from core.providers.spec import ProviderSpec

ENTRY_POINT_GROUP = "image_studio.providers"
SPEC_ATTRIBUTE = "PROVIDER"

log = logging.getLogger(__name__)


@functools.cache
def provider_specs() -> tuple[ProviderSpec, ...]:
    """Every provider: the built-ins by name, then the installed plugins by name. Loaded once
    per process (`provider_specs.cache_clear()` looks again)."""
    specs = list(_builtin_specs())
    taken = {spec.name for spec in specs}
    for spec in _plugin_specs():
        if spec.name in taken:
            log.error(
                "Provider plugin %s (%s) is left out: the name %r is already taken.",
                spec.adapter.__qualname__,
                spec.adapter.__module__,
                spec.name,
            )
            continue
        taken.add(spec.name)
        specs.append(spec)
    return tuple(specs)


def provider_names() -> tuple[str, ...]:
    """The names every provider is known by (API `provider`, job rows), in registry order."""
    return tuple(spec.name for spec in provider_specs())


def build_providers(settings: Settings) -> dict[str, Provider]:
    """One instance of every provider, configured from the variables its spec names (keys,
    base URLs, default models). Providers without a key are present but unavailable."""
    return {spec.name: spec.build(settings.variables) for spec in provider_specs()}


def _builtin_specs() -> list[ProviderSpec]:
    """The specs declared by the modules of this package, by name. A broken built-in module
    raises: that is a bug, not a configuration."""
    package = importlib.import_module(__package__ or "core.providers")
    specs: dict[str, ProviderSpec] = {}
    for module_info in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
        spec = getattr(importlib.import_module(module_info.name), SPEC_ATTRIBUTE, None)
        if not isinstance(spec, ProviderSpec):
            continue
        if spec.name in specs:
            raise ValueError(f"two built-in providers are named {spec.name!r}")
        specs[spec.name] = spec
    return [specs[name] for name in sorted(specs)]


def _plugin_specs() -> list[ProviderSpec]:
    """The specs installed packages register under ENTRY_POINT_GROUP, by name."""
    specs: list[ProviderSpec] = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry_point.load()
        except Exception:
            log.exception(
                "Provider plugin %r (%s) failed to load and is left out.",
                entry_point.name,
                entry_point.value,
            )
            continue
        if not isinstance(loaded, ProviderSpec):
            log.error(
                "Provider plugin %r (%s) is left out: it names a %s, not a ProviderSpec.",
                entry_point.name,
                entry_point.value,
                type(loaded).__name__,
            )
            continue
        specs.append(loaded)
    return sorted(specs, key=lambda spec: spec.name)
