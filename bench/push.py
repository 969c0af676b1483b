"""Push benchmark (run by hand): webhook deliveries per second, event-stream latency from the
worker's state change to the client, the outbox's cost per job, and the queue's throughput
with the dispatcher delivering every event (issue 15).

    python bench/push.py                    # everything, default sizes
    python bench/push.py --deliveries 1000 --jobs 120 --latency 200

Local backend in a temp dir, the demo provider, a local receiver answering 204 at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

# bench/queue.py would shadow the standard library's `queue`: drop this folder from the path.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from starlette.applications import Starlette  # noqa: E402

from core.backends import open_backend  # noqa: E402
from core.domain.models import JobRequest, JobStatus, NewJob  # noqa: E402
from core.domain.settings import Settings  # noqa: E402
from core.domain.webhooks import WebhookConfig  # noqa: E402
from core.providers.demo import DemoProvider  # noqa: E402
from core.queue.webhooks import WebhookDispatcher  # noqa: E402
from core.queue.worker import Worker  # noqa: E402
from core.runtime import Runtime, install_runtime, shutdown_runtime  # noqa: E402
from core.services import build_services  # noqa: E402
from core.web.api import api_routes  # noqa: E402

REQUEST = JobRequest(provider="demo", model="demo-pattern", prompt="bench", params={})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class Receiver:
    """Counts POSTs, answers 204 at once."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()
                with outer.lock:
                    outer.count += 1

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def base_settings(data_dir: Path, **variables: str) -> Settings:
    settings = replace(
        Settings.load(env={}, secrets_path=None),
        data_dir=data_dir,
        rate_limit_per_minute=1_000_000,
        worker_poll_seconds=0.05,
    )
    return settings.with_variables(WEBHOOK_ALLOW_HOSTS="127.0.0.1", **variables)


@contextmanager
def studio(settings: Settings, latency_ms: int = 0) -> Iterator[tuple]:  # type: ignore[type-arg]
    backend = open_backend(settings)
    providers = {"demo": DemoProvider(latency_ms=latency_ms)}
    services = build_services(backend, providers, settings)  # type: ignore[arg-type]
    user = backend.accounts.sign_up(
        "bench@example.com", "bench-password", admin_emails=frozenset()
    ).user
    try:
        yield backend, providers, services, user
    finally:
        backend.close()


def bench_deliveries(n: int, threads: int) -> None:
    receiver = Receiver()
    with tempfile.TemporaryDirectory() as tmp:
        settings = base_settings(
            Path(tmp) / "data", WEBHOOK_THREADS=str(threads), WEBHOOK_POLL_SECONDS="0.01"
        )
        with studio(settings) as (backend, _providers, services, user):
            services.webhooks.create_endpoint(user, receiver.url, ["job.queued"])
            for start in range(0, n, 4):
                services.jobs.submit(user, REQUEST, count=min(4, n - start))
            dispatcher = WebhookDispatcher(backend.webhooks, WebhookConfig.from_settings(settings))
            began = time.perf_counter()
            dispatcher.start()
            while receiver.count < n:
                time.sleep(0.005)
            elapsed = time.perf_counter() - began
            dispatcher.stop(2)
    receiver.close()
    print(
        f"webhooks: {n} deliveries (signed, one endpoint, {threads} threads) in {elapsed:.2f} s "
        f"= {n / elapsed:.0f} deliveries/s"
    )


def bench_outbox(n: int) -> None:
    """submit + claim + finish per job, with the event triggers and with them dropped."""
    results: dict[bool, float] = {}
    for triggers in (False, True, False, True):  # alternated, best of two: less warm-up bias
        with tempfile.TemporaryDirectory() as tmp:
            settings = base_settings(Path(tmp) / "data")
            with studio(settings) as (backend, _p, _s, user):
                if not triggers:
                    conn = backend.db.conn  # type: ignore[attr-defined]
                    conn.execute("DROP TRIGGER job_events_insert")
                    conn.execute("DROP TRIGGER job_events_update")
                jobs = backend.jobs
                began = time.perf_counter()
                for i in range(n):
                    job = NewJob(
                        id=f"00000000-0000-4000-8000-{i:012d}",
                        user_id=user.id,
                        request=REQUEST,
                        batch_id=f"b{i}",
                        max_attempts=3,
                    )
                    jobs.create_jobs([job], rate_limit_per_minute=10**9)
                    claimed = jobs.claim("bench", 60, 10)
                    assert claimed is not None
                    jobs.finish(
                        claimed.id, "bench", result_path="r.png", thumb_path=None, result_meta={}
                    )
                took = (time.perf_counter() - began) / n * 1e6
                results[triggers] = min(took, results.get(triggers, took))
    extra = results[True] - results[False]
    print(
        f"outbox: submit+claim+finish {results[True]:.0f} µs/job with the event log, "
        f"{results[False]:.0f} without: +{extra:.0f} µs/job ({extra / results[False]:+.1%})"
    )


def bench_latency(jobs: int, latency_ms: int) -> None:
    """Submit jobs one at a time; a real HTTP event stream measures, per event, the time from
    the worker's state change (started_at / finished_at in the row) to its arrival."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = base_settings(Path(tmp) / "data")
        backend = open_backend(settings)
        providers = {"demo": DemoProvider(latency_ms=latency_ms)}
        services = build_services(backend, providers, settings)  # type: ignore[arg-type]
        runtime = Runtime(settings, backend, providers, services)  # type: ignore[arg-type]
        runtime.start()
        install_runtime(runtime)
        user = backend.accounts.sign_up(
            "lat@example.com", "bench-password", admin_emails=frozenset()
        ).user
        _, token = services.accounts.create_api_token(user, "bench")
        config = uvicorn.Config(
            Starlette(routes=api_routes()), host="127.0.0.1", port=0, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        started: list[float] = []
        finished: list[float] = []
        with (
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as client,
            client.stream("GET", "/api/events") as stream,
        ):
            lines = stream.iter_lines()
            next(lines)
            for _ in range(jobs):
                client.post("/api/jobs", json={"provider": "demo", "prompt": "bench"})
                event = ""
                while True:
                    line = next(lines)
                    now = datetime.now(UTC)
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data = json.loads(line[6:])
                        if event == "job.started":
                            started.append(
                                (now - datetime.fromisoformat(data["started_at"])).total_seconds()
                                * 1000
                            )
                        elif event == "job.succeeded":
                            finished.append(
                                (now - datetime.fromisoformat(data["finished_at"])).total_seconds()
                                * 1000
                            )
                            break
        server.should_exit = True
        thread.join(5)
        shutdown_runtime()
    both = started + finished
    print(
        f"events: {jobs} jobs, state change in the worker → event at the client (real HTTP): "
        f"p50 {percentile(both, 50):.1f} ms, p95 {percentile(both, 95):.1f} ms, "
        f"max {max(both):.1f} ms "
        f"(started p50 {percentile(started, 50):.1f}, succeeded p50 {percentile(finished, 50):.1f})"
    )


def bench_queue_with_dispatch(n: int, latency_ms: int) -> None:
    """The queue's throughput with and without the dispatcher delivering every event."""
    results = {}
    for dispatch in (False, True):
        receiver = Receiver()
        with tempfile.TemporaryDirectory() as tmp:
            settings = base_settings(Path(tmp) / "data", WEBHOOK_POLL_SECONDS="0.05")
            with studio(settings, latency_ms) as (backend, providers, services, user):
                dispatcher = None
                if dispatch:
                    services.webhooks.create_endpoint(user, receiver.url, ["*"])
                    dispatcher = WebhookDispatcher(
                        backend.webhooks, WebhookConfig.from_settings(settings)
                    )
                    dispatcher.start()
                ids = []
                for start in range(0, n, 4):
                    ids += [
                        j.id for j in services.jobs.submit(user, REQUEST, count=min(4, n - start))
                    ]
                worker = Worker(backend, providers, settings)  # type: ignore[arg-type]
                began = time.perf_counter()
                worker.start()
                while any(
                    backend.jobs.get_job(i).status is not JobStatus.DONE for i in ids[-3:]
                ) or (  # type: ignore[union-attr]
                    backend.jobs.queue_depth().queued or backend.jobs.queue_depth().processing
                ):
                    time.sleep(0.02)
                elapsed = time.perf_counter() - began
                worker.stop(1)
                if dispatcher is not None:
                    while receiver.count < 3 * n:
                        time.sleep(0.02)
                    dispatcher.stop(2)
                results[dispatch] = n / elapsed
        receiver.close()
    print(
        f"queue at {latency_ms} ms, N={n}: {results[False]:.2f} jobs/s without webhooks, "
        f"{results[True]:.2f} with every event delivered ({results[True] / results[False]:.1%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", type=int, default=600)
    parser.add_argument("--outbox-jobs", type=int, default=400)
    parser.add_argument("--latency-jobs", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=120, help="queue run size")
    parser.add_argument("--latency", type=int, default=200, help="demo latency (ms)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bench_deliveries(args.deliveries, 2)
    bench_deliveries(args.deliveries, 8)
    bench_outbox(args.outbox_jobs)
    bench_latency(args.latency_jobs, 50)
    bench_queue_with_dispatch(args.jobs, args.latency)


if __name__ == "__main__":
    main()
