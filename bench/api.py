"""API benchmark, run by hand:

    python bench/api.py                      # starts its own server (temp DATA_DIR, demo)
    python bench/api.py --concurrency 16 --seconds 15 --users 8
    python bench/api.py --url http://127.0.0.1:8501 --data-dir ./data   # a running local server

1. Sustained `GET /api/jobs?id=` from `--concurrency` keep-alive clients on loopback for
   `--seconds`: requests/s and p50/p99 latency.
2. `POST /api/jobs` up to the rate limit: `--users` users each submit as fast as they can until
   the server answers 429; accepted jobs/s, p50/p99, and where the limit cut in.

The client runs on the same machine as the server, so both share the CPU: the figures are a
floor for a dedicated server, not a ceiling.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

# Run as a script: import from the repo root, not bench/ (whose modules would shadow stdlib ones).
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from core.domain.settings import Settings  # noqa: E402
from core.runtime import Runtime, build_runtime  # noqa: E402

PASSWORD = "benchmark password"


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, status: int, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def report(self, title: str) -> str:
        lat = sorted(self.latencies)
        if not lat:
            return f"{title}: no requests"
        p50 = statistics.median(lat) * 1000
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
        return (
            f"{title}: {len(lat)} requests in {self.seconds:.1f} s = "
            f"{len(lat) / self.seconds:.0f} req/s; p50 {p50:.1f} ms, p99 {p99:.1f} ms; "
            f"statuses {dict(sorted(self.statuses.items()))}"
        )


def make_tokens(data_dir: Path, count: int) -> list[str]:
    """Users and API tokens made through the core services on the server's DATA_DIR."""
    settings = replace(
        Settings.load(env={"DATA_DIR": str(data_dir)}, secrets_path=None), worker_enabled=False
    )
    runtime: Runtime = build_runtime(settings)
    tokens = []
    try:
        stamp = int(time.time())
        for i in range(count):
            user = runtime.services.accounts.sign_up(f"bench{stamp}-{i}@example.com", PASSWORD).user
            tokens.append(runtime.services.accounts.create_api_token(user, "bench")[1])
    finally:
        runtime.backend.close()
    return tokens


async def sustained_get(url: str, path: str, token: str, concurrency: int, seconds: float):
    """`concurrency` keep-alive clients GET `path` back to back for `seconds`."""
    sample = Sample()
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        await client.get(path)  # warm up
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < stop:
                started = time.perf_counter()
                response = await client.get(path)
                sample.add(response.status_code, time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        sample.seconds = time.perf_counter() - started
    return sample


async def posts_until_limited(url: str, tokens: list[str], per_user_cap: int) -> Sample:
    """Every user submits back to back until 429 (or `per_user_cap` accepted)."""
    sample = Sample()
    body = {
        "provider": "demo",
        "type": "image",
        "prompt": "benchmark",
        "params": {"quality": "draft"},
    }

    async def user(token: str) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
            for _ in range(per_user_cap + 1):
                started = time.perf_counter()
                response = await client.post("/api/jobs", json=body)
                sample.add(response.status_code, time.perf_counter() - started)
                if response.status_code == 429:
                    return

    started = time.perf_counter()
    await asyncio.gather(*(user(t) for t in tokens))
    sample.seconds = time.perf_counter() - started
    return sample


def wait_done(url: str, token: str, job_id: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client:
        while time.monotonic() < deadline:
            if client.get("/api/jobs", params={"id": job_id}).json()["status"] == "done":
                return
            time.sleep(0.2)
    raise SystemExit(f"job {job_id} did not finish")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server (default: start one)")
    parser.add_argument("--data-dir", type=Path, help="its DATA_DIR (to create users)")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=4, help="users submitting in phase 2")
    parser.add_argument("--rate-limit", type=int, default=30, help="RATE_LIMIT_PER_MINUTE")
    args = parser.parse_args()

    server = None
    if args.url:
        if not args.data_dir:
            parser.error("--url needs --data-dir (users and tokens are created there)")
        url, data_dir = args.url.rstrip("/"), args.data_dir
    else:
        from tests.live_server import launch_live_server

        base = Path(tempfile.mkdtemp(prefix="bench-api-"))
        server = launch_live_server(
            base / "data", env={"RATE_LIMIT_PER_MINUTE": str(args.rate_limit)}
        )
        url, data_dir = server.url, server.data_dir
        print(f"server {url} (log {server.log_path})")
    try:
        tokens = make_tokens(data_dir, 1 + args.users)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[0]}"}) as c:
            job_id = c.post("/api/jobs", json={"provider": "demo", "prompt": "bench"}).json()["id"]
        wait_done(url, tokens[0], job_id)

        for title, path in (
            ("GET /_stcore/health (baseline: the server stack alone)", "/_stcore/health"),
            ("GET /api/jobs?id=", f"/api/jobs?id={job_id}"),
        ):
            get = asyncio.run(sustained_get(url, path, tokens[0], args.concurrency, args.seconds))
            print(get.report(f"{title} x{args.concurrency} clients"))
        post = asyncio.run(posts_until_limited(url, tokens[1:], per_user_cap=10_000))
        accepted = post.statuses.get(201, 0)
        print(post.report(f"POST /api/jobs, {args.users} users until 429"))
        print(
            f"  accepted {accepted} jobs ({accepted / max(1, args.users):.0f}/user, limit "
            f"{args.rate_limit}/min) = {accepted / post.seconds:.0f} accepted jobs/s"
        )
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
