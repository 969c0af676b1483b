"""Queue benchmark (run by hand): N jobs through the services + Worker + local backend + demo
provider, against the same work on a bare ThreadPoolExecutor writing files directly.

    python bench/queue.py                      # N=300 at demo latency 0 ms and 200 ms
    python bench/queue.py --jobs 100 --latency 50

Prints jobs/s for both and their ratio, submit→start pickup latency (started_at - created_at)
on an idle worker, the queue wait in the bulk run, and the process's peak RSS.
Targets: at 200 ms the pipeline does ≥ 98% of the bare pool; at 0 ms ≥ 75%; pickup p50 ≤ 20 ms.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named queue.py: drop its folder from the path so it cannot shadow the
# standard library's `queue` (which concurrent.futures imports), and add the repo root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import logging  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from dataclasses import replace  # noqa: E402

from core.backends import open_backend  # noqa: E402
from core.domain.images import make_thumbnail  # noqa: E402
from core.domain.models import Job, JobQuery, JobRequest, JobStatus  # noqa: E402
from core.domain.settings import Settings  # noqa: E402
from core.ports import Backend  # noqa: E402
from core.providers.base import GenerationRequest  # noqa: E402
from core.providers.demo import DemoProvider  # noqa: E402
from core.queue.worker import Worker  # noqa: E402
from core.services import build_services  # noqa: E402

CONCURRENCY = 3
PARAMS = {"quality": "standard", "aspect_ratio": "1:1"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def all_jobs(backend: Backend) -> list[Job]:
    jobs: list[Job] = []
    cursor = None
    while True:
        page = backend.jobs.list_jobs(JobQuery(limit=100, cursor=cursor))
        jobs.extend(page.items)
        if not page.next_cursor:
            return jobs
        cursor = page.next_cursor


class Pipeline:
    """A whole local deployment in a temp dir with one started worker."""

    def __init__(self, root: Path, latency_ms: int) -> None:
        base = Settings.load(env={}, secrets_path=None)
        self.settings = replace(
            base.with_variables(DEMO_LATENCY_MS=str(latency_ms)),
            data_dir=root / "data",
            rate_limit_per_minute=1_000_000,
            worker_concurrency=CONCURRENCY,
        )
        self.backend = open_backend(self.settings)
        self.provider = DemoProvider(latency_ms=latency_ms)
        self.services = build_services(self.backend, {"demo": self.provider}, self.settings)
        self.user = self.services.accounts.sign_up("bench@example.com", "bench-password").user
        self.worker = Worker(self.backend, self.services.jobs.providers, self.settings)
        self.services.jobs.set_wake_worker(self.worker.wake)
        self.worker.start()

    def submit(self, i: int) -> Job:
        request = JobRequest(
            provider="demo", model="demo-pattern", prompt=f"job {i}", params=PARAMS
        )
        return self.services.jobs.submit(self.user, request)[0]

    def wait_idle(self, timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        while True:
            depth = self.backend.jobs.queue_depth()
            if depth.queued == 0 and depth.processing == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"queue did not drain: {depth}")
            time.sleep(0.02)

    def close(self) -> None:
        self.worker.stop(5)
        self.backend.close()


def run_pipeline(n: int, latency_ms: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        pipe = Pipeline(Path(tmp), latency_ms)
        try:
            # Pickup on an idle worker: one job at a time, each submitted once the last is done.
            pickups: list[float] = []
            for i in range(min(30, n)):
                job = pipe.submit(-i - 1)
                while (current := pipe.backend.jobs.get_job(job.id)) is None or not (
                    current.status.finished
                ):
                    time.sleep(0.002)
                assert current.started_at is not None
                pickups.append((current.started_at - current.created_at).total_seconds())
            pipe.backend.jobs.delete_jobs([j.id for j in all_jobs(pipe.backend)])

            started, cpu = time.perf_counter(), time.process_time()
            for i in range(n):
                pipe.submit(i)
            pipe.wait_idle()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            jobs = all_jobs(pipe.backend)
            done = [j for j in jobs if j.status is JobStatus.DONE]
            if len(done) != n:
                raise RuntimeError(f"{n - len(done)} jobs did not finish: {pipe.worker.stats()}")
            waits = [(j.started_at - j.created_at).total_seconds() for j in done if j.started_at]
        finally:
            pipe.close()
    return {
        "seconds": elapsed,
        "jobs_per_s": n / elapsed,
        "cpu_ms_per_job": cpu / n * 1000,
        "pickup_p50_ms": percentile(pickups, 50) * 1000,
        "pickup_p95_ms": percentile(pickups, 95) * 1000,
        "queue_wait_p50_s": percentile(waits, 50),
    }


def run_bare(n: int, latency_ms: int, *, thumbnails: bool = False) -> dict[str, float]:
    provider = DemoProvider(latency_ms=latency_ms)
    with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
        root = Path(tmp)

        def one(i: int) -> None:
            result = provider.generate(
                GenerationRequest(model="demo-pattern", prompt=f"job {i}", params=PARAMS)
            )
            (root / f"{i}.png").write_bytes(result.data)
            if thumbnails:
                (root / f"{i}.thumb.webp").write_bytes(make_thumbnail(result.data))

        started, cpu = time.perf_counter(), time.process_time()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(one, range(n)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": elapsed, "jobs_per_s": n / elapsed, "cpu_ms_per_job": cpu / n * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--latency", type=int, action="append", help="demo latency in ms")
    parser.add_argument(
        "--rounds", type=int, default=2, help="alternating runs of each; the best counts"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    latencies = args.latency or [0, 200]
    targets = {0: 0.75, 200: 0.98}
    print(
        f"N={args.jobs} jobs, concurrency {CONCURRENCY}, demo quality {PARAMS['quality']}, "
        f"best of {max(1, args.rounds)} rounds"
    )
    for latency in latencies:
        # Alternate the three and keep each one's best run: the machine is shared, and a
        # neighbour's burst should not decide the ratio.
        bares, thumbs, pipes = [], [], []
        for _ in range(max(1, args.rounds)):
            bares.append(run_bare(args.jobs, latency))
            # The same pool also making thumbnails: the queue's own cost, apart from them.
            thumbs.append(run_bare(args.jobs, latency, thumbnails=True))
            pipes.append(run_pipeline(args.jobs, latency))
        bare, thumb, pipe = (
            max(rs, key=lambda r: r["jobs_per_s"]) for rs in (bares, thumbs, pipes)
        )
        ratio = pipe["jobs_per_s"] / bare["jobs_per_s"]
        target = targets.get(latency)
        verdict = (
            ""
            if target is None
            else f" (target ≥ {target:.0%}: {'ok' if ratio >= target else 'MISSED'})"
        )
        print(f"\n-- demo latency {latency} ms")
        for name, r in (("bare pool", bare), ("bare+thumb", thumb), ("pipeline", pipe)):
            print(
                f"{name:10} : {r['jobs_per_s']:7.1f} jobs/s  ({r['seconds']:.1f} s, "
                f"CPU {r['cpu_ms_per_job']:.1f} ms/job)"
            )
        print(f"ratio      : {ratio:7.1%}{verdict}")
        print(
            f"vs +thumb  : {pipe['jobs_per_s'] / thumb['jobs_per_s']:7.1%} (queue overhead alone)"
        )
        print(
            f"pickup     : p50 {pipe['pickup_p50_ms']:.1f} ms, p95 {pipe['pickup_p95_ms']:.1f} ms"
            f" (idle worker; target p50 ≤ 20 ms: "
            f"{'ok' if pipe['pickup_p50_ms'] <= 20 else 'MISSED'})"
        )
        print(f"queue wait : p50 {pipe['queue_wait_p50_s']:.2f} s in the bulk run of {args.jobs}")
    print(f"\npeak RSS   : {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
