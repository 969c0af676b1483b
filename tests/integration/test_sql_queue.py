"""The queue functions of supabase-schema.sql on real PostgreSQL: claims under concurrency, the
rate limit and idempotency under concurrent submits, leases, and purge candidates."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.integration.conftest import acting_as, job_json
from tests.waiting import wait_until

WORKERS = 8


def _claim(conn: psycopg.Connection, owner: str, cap: int, lease: float = 60) -> dict | None:
    with acting_as(conn, "service_role"):
        return conn.execute(
            "select * from public.claim_job(%s, %s, %s)", [owner, lease, cap]
        ).fetchone()


def _finish(conn: psycopg.Connection, job_id: object, owner: str) -> bool:
    with acting_as(conn, "service_role"):
        return conn.execute(
            "select public.finish_job(%s, %s, 'r.png', null, '{}') as ok", [job_id, owner]
        ).fetchone()["ok"]


@pytest.fixture
def live_lease_audit(db: psycopg.Connection):
    """Record, inside every claim's transaction, how many jobs hold a live lease."""
    db.execute("create table if not exists public.claim_audit (live integer not null)")
    db.execute("truncate public.claim_audit")
    db.execute(
        """
        create or replace function public.audit_claim() returns trigger
        language plpgsql as $$
        begin
            insert into public.claim_audit (live)
            select count(*) from public.jobs
            where status = 'processing' and lease_expires_at > clock_timestamp();
            return null;
        end $$;
        drop trigger if exists audit_claim on public.jobs;
        create trigger audit_claim after update on public.jobs
            for each statement execute function public.audit_claim();
        grant insert on public.claim_audit to service_role;
        """
    )
    yield lambda: db.execute(
        "select max(live) as m, count(*) as n from public.claim_audit"
    ).fetchone()
    db.execute("drop trigger if exists audit_claim on public.jobs")
    db.execute("drop table if exists public.claim_audit")
    db.execute("drop function if exists public.audit_claim()")


def test_claims_from_eight_connections_hand_each_job_out_once_and_respect_the_cap(
    db, make_user, submit, role_conn, live_lease_audit
):
    user = make_user()
    jobs = submit(user, 40)
    cap = 3
    claimed: list[str] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        conn = role_conn()
        owner = f"worker-{index}"
        idle_since = time.monotonic()
        while time.monotonic() - idle_since < 1.0:
            row = _claim(conn, owner, cap)
            if row is None:
                time.sleep(0.002)
                continue
            idle_since = time.monotonic()
            with lock:
                claimed.append(str(row["id"]))
            time.sleep(0.01)  # "generating"
            assert _finish(conn, row["id"], owner)

    with ThreadPoolExecutor(WORKERS) as pool:
        for future in [pool.submit(work, i) for i in range(WORKERS)]:
            future.result()

    assert Counter(claimed) == Counter(str(j["id"]) for j in jobs)
    audit = live_lease_audit()
    assert audit["n"] >= len(jobs)
    assert audit["m"] <= cap
    statuses = db.execute("select status, attempts from public.jobs").fetchall()
    assert {(r["status"], r["attempts"]) for r in statuses} == {("done", 1)}


def test_uncapped_concurrent_claims_never_share_a_job(db, make_user, submit, role_conn):
    user = make_user()
    jobs = submit(user, 60)
    barrier = threading.Barrier(WORKERS)

    def work(index: int) -> list[str]:
        conn = role_conn()
        barrier.wait()
        got = []
        while (row := _claim(conn, f"w{index}", 1000)) is not None:
            got.append(str(row["id"]))
        return got

    with ThreadPoolExecutor(WORKERS) as pool:
        results = [f.result() for f in [pool.submit(work, i) for i in range(WORKERS)]]
    everything = [job for got in results for job in got]
    assert sorted(everything) == sorted(str(j["id"]) for j in jobs)
    assert sum(1 for got in results if got) > 1  # the work really was shared


def test_claim_takes_the_oldest_runnable_job_and_skips_backed_off_ones(db, make_user, submit):
    user = make_user()
    first, second = submit(user, 2)
    db.execute(
        "update public.jobs set run_after = now() + interval '1 hour' where id = %s", [first["id"]]
    )
    row = _claim(db, "w", 3)
    assert row["id"] == second["id"]
    assert (row["status"], row["attempts"], row["lease_owner"]) == ("processing", 1, "w")
    assert row["started_at"] is not None
    assert _claim(db, "w", 3) is None


def test_expired_lease_is_reclaimed_and_the_late_worker_cannot_finish(db, make_user, submit):
    user = make_user()
    job = submit(user, 1)[0]
    assert _claim(db, "old", 3)["id"] == job["id"]
    assert _claim(db, "new", 3) is None  # the lease is live
    db.execute("update public.jobs set lease_expires_at = now() - interval '1 second'")
    again = _claim(db, "new", 3)
    assert (again["id"], again["attempts"], again["lease_owner"]) == (job["id"], 2, "new")
    assert _finish(db, job["id"], "old") is False
    with acting_as(db, "service_role"):
        held = db.execute(
            "select public.heartbeat_jobs(%s, 'old', 60) as ids", [[job["id"]]]
        ).fetchone()["ids"]
        assert held == []
        failed = db.execute(
            "select public.fail_job(%s, 'old', 'x', 'y') as ok", [job["id"]]
        ).fetchone()["ok"]
        assert failed is False
    assert _finish(db, job["id"], "new") is True
    assert db.execute("select status from public.jobs").fetchone()["status"] == "done"


def test_expired_lease_on_the_last_attempt_fails_the_job(db, make_user, submit):
    user = make_user()
    job = submit(user, 1, max_attempts=1)[0]
    _claim(db, "w", 3)
    db.execute("update public.jobs set lease_expires_at = now() - interval '1 second'")
    assert _claim(db, "w2", 3) is None
    row = db.execute("select * from public.jobs where id = %s", [job["id"]]).fetchone()
    assert (row["status"], row["error_code"], row["lease_owner"]) == ("failed", "worker_lost", None)
    assert row["finished_at"] is not None


def test_heartbeat_extends_only_the_owners_live_leases(db, make_user, submit):
    user = make_user()
    submit(user, 2)
    mine = _claim(db, "me", 3, lease=5)
    theirs = _claim(db, "them", 3, lease=5)
    with acting_as(db, "service_role"):
        held = db.execute(
            "select public.heartbeat_jobs(%s, 'me', 600) as ids", [[mine["id"], theirs["id"]]]
        ).fetchone()["ids"]
    assert held == [mine["id"]]
    rows = {
        r["id"]: r["lease_expires_at"]
        for r in db.execute("select id, lease_expires_at from public.jobs").fetchall()
    }
    assert rows[mine["id"]] - rows[theirs["id"]] > timedelta(seconds=500)


def test_requeue_keeps_the_attempt_and_release_refunds_it(db, make_user, submit):
    user = make_user()
    a, b = submit(user, 2)
    _claim(db, "w", 3)
    _claim(db, "w", 3)
    later = datetime.now(UTC) + timedelta(minutes=5)
    with acting_as(db, "service_role"):
        ok = db.execute(
            "select public.requeue_job(%s, 'w', %s, 'transient', 'busy') as ok", [a["id"], later]
        ).fetchone()["ok"]
        assert ok is True
        released = db.execute(
            "select public.release_jobs(%s, 'w') as n", [[a["id"], b["id"]]]
        ).fetchone()["n"]
        assert released == 1  # `a` is no longer leased
    rows = {r["id"]: r for r in db.execute("select * from public.jobs").fetchall()}
    assert (rows[a["id"]]["status"], rows[a["id"]]["attempts"]) == ("queued", 1)
    assert rows[a["id"]]["run_after"] == later.replace(microsecond=later.microsecond)
    assert (rows[b["id"]]["status"], rows[b["id"]]["attempts"]) == ("queued", 0)
    assert rows[b["id"]]["lease_owner"] is None


def test_concurrent_submits_of_one_user_never_pass_the_rate_limit(db, make_user, role_conn):
    user = make_user()
    limit = 30
    barrier = threading.Barrier(WORKERS)

    def work(_: int) -> tuple[int, int]:
        conn = role_conn()
        barrier.wait()
        ok = refused = 0
        for _ in range(5):
            try:
                with acting_as(conn, "authenticated", user):
                    conn.execute(
                        "select * from public.submit_jobs(%s, %s)", [job_json(user), limit]
                    )
                ok += 1
            except psycopg.Error as exc:
                assert exc.sqlstate == "SR429"
                detail = json.loads(exc.diag.message_detail)
                assert 1 <= detail["retry_after"] <= 60 and detail["limit"] == limit
                refused += 1
        return ok, refused

    with ThreadPoolExecutor(WORKERS) as pool:
        results = [f.result() for f in [pool.submit(work, i) for i in range(WORKERS)]]
    assert sum(ok for ok, _ in results) == limit
    assert sum(refused for _, refused in results) == WORKERS * 5 - limit
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == limit


def test_concurrent_submits_with_one_idempotency_key_create_one_batch(db, make_user, role_conn):
    user = make_user()
    barrier = threading.Barrier(WORKERS)

    def work(_: int) -> list[str]:
        conn = role_conn()
        barrier.wait()
        with acting_as(conn, "authenticated", user):
            rows = conn.execute(
                "select * from public.submit_jobs(%s, 30)", [job_json(user, 2, key="k-1")]
            ).fetchall()
        return [str(r["id"]) for r in rows]

    with ThreadPoolExecutor(WORKERS) as pool:
        results = [f.result() for f in [pool.submit(work, i) for i in range(WORKERS)]]
    assert all(r == results[0] for r in results) and len(results[0]) == 2
    assert db.execute("select count(*) as n from public.jobs").fetchone()["n"] == 2
    assert db.execute("select sum(count) as n from public.submissions").fetchone()["n"] == 2


def test_daily_quota_is_refused_with_seconds_to_midnight(db, make_user):
    user = make_user()
    with acting_as(db, "service_role"):
        db.execute("select * from public.submit_jobs_with_quota(%s, 100, 3)", [job_json(user, 2)])
    with pytest.raises(psycopg.Error) as caught, acting_as(db, "service_role"):
        db.execute("select * from public.submit_jobs_with_quota(%s, 100, 3)", [job_json(user, 2)])
    assert caught.value.sqlstate == "SQ429"
    detail = json.loads(caught.value.diag.message_detail)
    assert detail["quota"] == 3 and detail["left"] == 1
    assert 1 <= detail["retry_after"] <= 86400


def test_purge_candidates_pick_old_finished_jobs_only(db, make_user, submit):
    a, b = make_user(), make_user()
    old_done, old_failed, old_queued, new_done, flagged = submit(a, 5)
    other = submit(b, 1)[0]
    old = datetime.now(UTC) - timedelta(days=10)
    for job, status in (
        (old_done, "done"),
        (old_failed, "failed"),
        (new_done, "done"),
        (flagged, "done"),
        (other, "done"),
    ):
        db.execute(
            "update public.jobs set status = %s, finished_at = %s where id = %s",
            [status, datetime.now(UTC) if job is new_done else old, job["id"]],
        )
    db.execute("update public.jobs set review_status = 'flagged' where id = %s", [flagged["id"]])
    db.execute("update public.jobs set created_at = %s where id = %s", [old, old_queued["id"]])
    cutoff = datetime.now(UTC) - timedelta(days=7)

    def candidates(*args: object) -> set[object]:
        with acting_as(db, "service_role"):
            rows = db.execute(
                "select id from public.purge_candidates(%s, %s, %s, %s, %s)", list(args)
            ).fetchall()
        return {r["id"] for r in rows}

    assert candidates(["done", "failed"], cutoff, None, [], 500) == {
        old_done["id"],
        old_failed["id"],
        flagged["id"],
        other["id"],
    }
    assert candidates(["done"], cutoff, a, ["flagged"], 500) == {old_done["id"]}
    assert len(candidates(["done", "failed"], cutoff, None, [], 2)) == 2
    with pytest.raises(psycopg.Error), acting_as(db, "service_role"):
        db.execute("select * from public.purge_candidates('{queued}', now())")


def test_sweeper_lease_is_held_by_one_owner_until_it_expires(db):
    def acquire(owner: str, seconds: float) -> bool:
        with acting_as(db, "service_role"):
            return db.execute(
                "select public.try_acquire_lease('sweeper', %s, %s) as ok", [owner, seconds]
            ).fetchone()["ok"]

    assert acquire("a", 60) is True
    assert acquire("b", 60) is False
    assert acquire("a", 60) is True  # renewal
    db.execute("update public.leases set expires_at = now() - interval '1 second'")
    assert acquire("b", 60) is True
    assert acquire("a", 60) is False


def _waits_on_a_lock(db: psycopg.Connection, pid: int) -> bool:
    row = db.execute("select wait_event_type from pg_stat_activity where pid = %s", [pid])
    return row.fetchone()["wait_event_type"] == "Lock"


def test_a_claim_granted_by_a_slot_freed_meanwhile_starts_after_that_slot_was_freed(
    db, make_user, submit, role_conn
):
    """started_at and generated_at bound the provider calls, so they must never show more
    calls at once than the cap. A claim reads the clock, then counts the slots; if a provider
    call ends in between and frees the slot it counts, the new job must start after that end.
    Made deterministic: the claim is held, after its first clock reading, on a row another
    transaction has locked (the exhausted-lease update), while the running job is marked."""
    user = make_user()
    running, waiting = submit(user, 2)
    (stuck,) = submit(user, 1, max_attempts=1)
    assert _claim(db, "w1", 3)["id"] == running["id"]
    db.execute(
        "update public.jobs set status = 'processing', attempts = 1, lease_owner = 'gone', "
        "lease_expires_at = now() - interval '1 second' where id = %s",
        [stuck["id"]],
    )
    holder, claimer, marker = role_conn(), role_conn(), role_conn()
    holder.execute("begin")
    holder.execute("set local role service_role")
    holder.execute("select 1 from public.jobs where id = %s for update", [stuck["id"]])
    pid = claimer.execute("select pg_backend_pid() as pid").fetchone()["pid"]
    with ThreadPoolExecutor(1) as pool:
        claim = pool.submit(_claim, claimer, "w2", 1)
        wait_until(lambda: _waits_on_a_lock(db, pid), timeout=10)
        with acting_as(marker, "service_role"):
            marked = marker.execute(
                "select public.mark_job_generated(%s, 'w1', 60) as ok", [running["id"]]
            ).fetchone()["ok"]
        assert marked is True
        holder.execute("rollback")
        granted = claim.result(timeout=10)
    assert granted is not None and granted["id"] == waiting["id"]
    row = db.execute("select generated_at from public.jobs where id = %s", [running["id"]])
    assert granted["started_at"] >= row.fetchone()["generated_at"]
