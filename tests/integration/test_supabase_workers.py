"""Scale-out in Supabase mode: the app (with its in-process worker) and two headless worker
processes share one queue through the gateway. Every job is done exactly once and never more
than WORKER_CONCURRENCY jobs are processing at once across all three processes."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.constants import PASSWORD
from tests.integration.supabase_factory import gateway, make_supabase_backend, supabase_settings
from tests.live_server import launch_live_server, launch_worker

JOBS = 60
CAP = 3

AUDIT_SQL = """
create table if not exists public.claim_audit (owner text, live integer);
truncate public.claim_audit;
grant insert on public.claim_audit to service_role;
create or replace function public.audit_claim() returns trigger language plpgsql as $$
begin
    insert into public.claim_audit (owner, live)
    select new.lease_owner, count(*) from public.jobs
    where status = 'processing' and lease_expires_at > clock_timestamp()
      and generated_at is null;  -- a job storing its image holds no provider slot (issue 13)
    return null;
end $$;
drop trigger if exists audit_claim on public.jobs;
create trigger audit_claim after update on public.jobs for each row
    when (new.status = 'processing' and old.status is distinct from 'processing')
    execute function public.audit_claim();
"""
DROP_AUDIT_SQL = """
drop trigger if exists audit_claim on public.jobs;
drop function if exists public.audit_claim();
drop table if exists public.claim_audit;
"""


@pytest.fixture
def audited(settings, tmp_path) -> Iterator[tuple]:
    gw = gateway()
    factory = make_supabase_backend(supabase_settings(settings, gw), tmp_path)
    backend = next(factory)
    with gw.cluster.connect() as conn:
        conn.execute(AUDIT_SQL)
    try:
        yield gw, backend
    finally:
        with gw.cluster.connect() as conn:
            conn.execute(DROP_AUDIT_SQL)
        factory.close()


def _max_overlap(intervals: list[tuple]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(f, -1) for _, f in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def _wait_until_running(logs: list[Path], workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while not all(b"headless worker running" in log.read_bytes() for log in logs):
        assert all(p.poll() is None for p in workers), "a worker process died at start"
        assert time.monotonic() < deadline, "the workers did not start within 60 s"
        time.sleep(0.1)


@pytest.mark.slow
def test_sixty_jobs_over_the_app_and_two_workers_run_once_within_the_cap(audited, tmp_path):
    gw, backend = audited
    env = {
        "SUPABASE_URL": gw.url,
        "SUPABASE_ANON_KEY": gw.anon_key,
        "SUPABASE_SERVICE_ROLE_KEY": gw.service_key,
        "DEMO_LATENCY_MS": "150",
        "WORKER_CONCURRENCY": str(CAP),
        "WORKER_POLL_SECONDS": "0.05",
        "WORKER_LEASE_SECONDS": "30",
        "RATE_LIMIT_PER_MINUTE": "1000",
        "LOG_LEVEL": "WARNING",
    }
    user = backend.accounts.sign_up("load@example.com", PASSWORD, admin_emails=frozenset()).user
    _, token = backend.accounts.create_api_token(user.id, "load")

    workers: list[subprocess.Popen[bytes]] = []
    app = launch_live_server(tmp_path / "app-data", env=env, log_path=tmp_path / "app.log")
    try:
        # INFO, so each worker's log says when it is running: the jobs are submitted only
        # then (on a busy machine a worker still importing would leave all the work to the app).
        for n in range(2):
            log = tmp_path / f"worker{n}.log"
            workers.append(launch_worker(tmp_path / "worker-data", env=env, log_path=log).process)

        _wait_until_running([tmp_path / f"worker{n}.log" for n in range(2)], workers)

        def submit(n: int) -> str:
            response = httpx.post(
                f"{app.url}/api/jobs",
                json={"provider": "demo", "prompt": f"lighthouse number {n}"},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert response.status_code == 201, response.text
            return response.json()["id"]

        with ThreadPoolExecutor(6) as pool:
            ids = set(pool.map(submit, range(JOBS)))
        assert len(ids) == JOBS

        deadline = time.monotonic() + 90
        with psycopg.connect(gw.cluster.dsn(), autocommit=True) as conn:
            while time.monotonic() < deadline:
                (done,) = conn.execute(
                    "select count(*) from public.jobs where status in ('done', 'failed')"
                ).fetchone()
                if done == JOBS:
                    break
                time.sleep(0.2)
            rows = conn.execute(
                "select id::text, status, attempts, started_at, generated_at from public.jobs"
            ).fetchall()
            audit = conn.execute("select owner, live from public.claim_audit").fetchall()
            (objects,) = conn.execute("select count(*) from storage.objects").fetchone()
        assert all(p.poll() is None for p in workers), "a worker process died"
    finally:
        for process in workers:
            process.terminate()
        for process in workers:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        app.stop()

    logs = "\n".join(p.read_text(errors="replace")[-2000:] for p in Path(tmp_path).glob("*.log"))
    assert {r[0] for r in rows} == ids
    assert {(r[1], r[2]) for r in rows} == {("done", 1)}, logs
    assert len(audit) == JOBS  # each job was claimed exactly once
    assert max(live for _, live in audit) <= CAP
    # the provider calls (start → generated_at) never overlap past the cap; storing the images
    # afterwards holds no provider slot (issue 13)
    assert _max_overlap([(r[3], r[4]) for r in rows]) <= CAP
    processes = {owner.rsplit(":", 1)[0] for owner, _ in audit}
    assert len(processes) >= 2, "only one process did all the work"
    assert objects == 2 * JOBS  # an image and a thumbnail per job
