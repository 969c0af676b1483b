"""Live smoke test: one small image per provider whose key is set, with timings.

Spends real money (a few cents per provider) and needs network access, so it is never part
of the test suite. Run by hand:

    python scripts/live_smoke.py                 # every provider with a key in the env
    python scripts/live_smoke.py --provider gemini --out /tmp/smoke

Every provider of the registry that needs a key is tried (installed plugins included); keys,
base URLs and default models come from the variables each one names (OPENAI_API_KEY,
GEMINI_BASE_URL, ...). Exits 1 if any call failed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.domain.errors import StudioError
from core.domain.images import extension_for
from core.domain.settings import Settings
from core.providers.base import Capabilities, GenerationRequest, ProviderError
from core.providers.registry import build_providers, provider_specs


def paid_providers() -> dict[str, tuple[str, ...]]:
    """Name → key variables of every provider that needs a key (the demo does not)."""
    return {spec.name: spec.key_env for spec in provider_specs() if spec.key_env}


def cheapest_params(caps: Capabilities) -> dict[str, Any]:
    """The cheapest sensible request: square where offered, and the first (lowest) quality
    tier and image size, as catalogues list them cheapest first."""
    params: dict[str, Any] = {}
    if caps.aspect_ratios:
        params["aspect_ratio"] = "1:1" if "1:1" in caps.aspect_ratios else caps.aspect_ratios[0]
    if caps.qualities:
        params["quality"] = caps.qualities[0]
    if caps.image_sizes:
        params["image_size"] = caps.image_sizes[0]
    return params


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    paid = paid_providers()
    parser.add_argument("--provider", action="append", choices=sorted(paid))
    parser.add_argument("--prompt", default="A small red paper boat on a calm blue pond")
    parser.add_argument("--out", type=Path, help="save the images in this folder")
    args = parser.parse_args(argv)

    settings = Settings.load()
    providers = build_providers(settings)
    wanted = [n for n in (args.provider or sorted(paid)) if providers[n].available()]
    if not wanted:
        keys = ", ".join(keys[0] for keys in paid.values())
        print(f"No provider key is set ({keys}); nothing to do.")
        return 0
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)

    failures = 0
    for name in wanted:
        provider = providers[name]
        model = provider.default_model
        params = cheapest_params(model.capabilities)
        started = time.perf_counter()
        try:
            params = provider.validate(model.id, args.prompt, params)
            image = provider.generate(
                GenerationRequest(
                    model=model.id, prompt=args.prompt, params=params, user_ref="smoke"
                )
            )
        except (ProviderError, StudioError) as exc:
            failures += 1
            took = time.perf_counter() - started
            print(
                f"{name:9} {model.id:28} FAILED after {took:5.1f}s  "
                f"{type(exc).__name__}: {exc.message}"
            )
            continue
        took = time.perf_counter() - started
        meta = image.meta
        cost = meta.get("estimated_cost_usd")
        ref = meta.get("request_id") or meta.get("response_id")
        line = (
            f"{name:9} {model.id:28} ok in {took:5.1f}s  {meta.get('width')}x{meta.get('height')}"
        )
        line += f" {image.mime} {len(image.data):,} bytes"
        line += f"  ~${cost:.3f}" if cost is not None else ""
        line += f"  id={ref}" if ref else ""
        print(line)
        if args.out:
            path = args.out / f"{name}-{int(time.time())}.{extension_for(image.mime)}"
            path.write_bytes(image.data)
            print(f"{'':9} saved {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
