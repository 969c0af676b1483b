"""Supabase round trips per render (run by hand; needs PostgreSQL 15 binaries, as the
integration tests): a Supabase-mode studio on the test gateway with 200 finished jobs, each
render of issue 13's table done with AppTest (router + page, as a browser's run), with a delay
added to every request to stand for the network to Supabase.

    python bench/round_trips.py                 # 50 ms per request
    python bench/round_trips.py --delay-ms 0

Prints, per render, the requests made and the wall time. Targets at 50 ms per request: History
and Review ≤ 0.3 s, a done batch on Generate ≤ 0.3 s (tests/integration/
test_supabase_round_trips.py asserts the request counts themselves).
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/ holds queue.py: drop this folder from the path so it cannot shadow the standard
# library's `queue`, and add the repo root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import replace  # noqa: E402

from core.domain.settings import Settings  # noqa: E402
from tests.integration.round_trips import deployment, measure, summary  # noqa: E402

TARGETS_S = {
    "History page 1 (24 tiles)": 0.3,
    "Generate, 4-job batch done": 0.3,
    "Review queue (admin)": 0.3,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3, help="fresh deployments; best counts")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    best: dict[str, tuple[list[str], float]] = {}
    for _ in range(max(1, args.rounds)):
        with tempfile.TemporaryDirectory(prefix="bench-round-trips-") as tmp:
            settings = replace(Settings.load(env={}, secrets_path=None), data_dir=Path(tmp) / "d")
            with deployment(settings, Path(tmp)) as dep:
                dep.gw.delay = args.delay_ms / 1000
                for name, (requests, seconds) in measure(dep).items():
                    if name not in best or seconds < best[name][1]:
                        best[name] = (requests, seconds)
    print(f"{args.delay_ms:.0f} ms per request, best of {max(1, args.rounds)} fresh deployments")
    print(f"{'render':38} {'requests':>8} {'time':>8}")
    for name, (requests, seconds) in best.items():
        target = TARGETS_S.get(name)
        verdict = ""
        if target is not None:
            verdict = f"  (target ≤ {target:.1f} s: {'ok' if seconds <= target else 'MISSED'})"
        print(f"{name:38} {len(requests):8} {seconds * 1000:6.0f} ms{verdict}")
        print(f"{'':38} {summary(requests)}")


if __name__ == "__main__":
    main()
