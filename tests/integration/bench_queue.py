"""Figures for the Supabase side, run by hand: `python -m tests.integration.bench_queue`.
Starts its own cluster and gateway; prints cluster start-up, claim+finish throughput in SQL
over 8 connections, the same through supabase-py and the gateway, and resolve_session cost."""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import psycopg

from core.backends.supabase import open_supabase_backend
from core.domain.settings import Settings
from tests.constants import PASSWORD
from tests.contract.support import new_jobs
from tests.integration.gateway import Gateway
from tests.integration.pg import PgCluster, start_cluster

SERVICE = """set local role service_role;
select set_config('request.jwt.claims', '{"role": "service_role"}', true)"""


def _drain(cluster: PgCluster, owner: str) -> int:
    done = 0
    with psycopg.connect(cluster.dsn("authenticator"), autocommit=True) as conn:
        while True:
            with conn.transaction():
                conn.execute(SERVICE)
                row = conn.execute(
                    "select id from public.claim_job(%s, 60, 1000)", [owner]
                ).fetchone()
            if row is None:
                return done
            with conn.transaction():
                conn.execute(SERVICE)
                conn.execute("select public.finish_job(%s, %s, 'p', null, '{}')", [row[0], owner])
            done += 1


def main() -> None:
    started = time.perf_counter()
    cluster = start_cluster()
    print(f"cluster start + shim + schema twice: {time.perf_counter() - started:.2f} s")
    gateway = Gateway(cluster, Path(tempfile.mkdtemp())).start()
    try:
        settings = replace(
            Settings.load(env={}, secrets_path=None),
            supabase_url=gateway.url,
            supabase_anon_key=gateway.anon_key,
            supabase_service_role_key=gateway.service_key,
        )
        backend = open_supabase_backend(settings)
        user = backend.accounts.sign_up("bench@example.com", PASSWORD, admin_emails=frozenset())
        for _ in range(100):
            backend.jobs.create_jobs(new_jobs(user.user, 4), rate_limit_per_minute=10**6)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            total = sum(pool.map(lambda n: _drain(cluster, f"w{n}"), range(8)))
        elapsed = time.perf_counter() - started
        print(
            f"SQL claim+finish, 8 connections: {total} jobs in {elapsed:.2f} s "
            f"({total / elapsed:.0f} jobs/s)"
        )
        for _ in range(10):
            backend.jobs.create_jobs(new_jobs(user.user, 5), rate_limit_per_minute=10**6)
        started, count = time.perf_counter(), 0
        while (job := backend.jobs.claim("w", 60, 3)) is not None:
            backend.jobs.finish(job.id, "w", result_path="x", thumb_path=None, result_meta={})
            count += 1
        elapsed = time.perf_counter() - started
        print(f"supabase-py via the gateway, claim+finish: {elapsed / count * 1000:.1f} ms a job")
        started = time.perf_counter()
        for _ in range(50):
            backend.accounts.resolve_session(user.session_token)
        print(f"resolve_session: {(time.perf_counter() - started) / 50 * 1000:.1f} ms")
        backend.close()
    finally:
        gateway.stop()
        cluster.stop()


if __name__ == "__main__":
    main()
