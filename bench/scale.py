"""Scale check of the review/admin queries with N job rows (default 100,000).

Seeds the rows straight into a fresh database, then measures:
- one review-queue page (oldest unreviewed first) and one history page, first and later pages,
  with and without filters, and the admin user list (target: <= 50 ms of database time);
- the admin statistics: usage for 30 days and for everything, purge preview, queue depth
  (target: <= 500 ms);
- purge throughput: jobs/s deleting real files, then rows, through core.services.purge.

    python bench/scale.py                      # local backend (SQLite + files)
    python bench/scale.py --backend supabase   # test PostgreSQL 15 + gateway (tests/integration)
    options: --rows 100000 --users 200 --purge 5000 --repeat 20 [--keep DIR]  (--keep: local only)

For `local` the timings are the store calls (SQLite in process: database time). For `supabase`
the SQL functions are timed on a direct connection (database time) and the same calls through
supabase-py and the test gateway (end to end, for comparison).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# bench/ holds queue.py, which would shadow the standard library's `queue`: drop the folder
# from the path and add the repo root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from core.backends.sqlite import LocalBackend, open_local_backend  # noqa: E402
from core.backends.sqlite.db import MIGRATIONS, _apply, to_us  # noqa: E402
from core.domain.models import JobQuery, JobStatus, ReviewStatus  # noqa: E402
from core.domain.settings import Settings  # noqa: E402
from core.ports import Backend  # noqa: E402
from core.services import purge  # noqa: E402

PROVIDERS = {
    "openai": ["gpt-image-1", "gpt-image-1-mini"],
    "gemini": ["gemini-2.5-flash-image"],
    "ideogram": ["V_3"],
    "demo": ["demo-pattern", "demo-poster"],
}
WORDS = ["lighthouse", "dusk", "fox", "whale", "city", "neon", "forest", "river", "cat", "robot"]
COLUMNS = (
    "id, user_id, provider, model, prompt, status, attempts, max_attempts, run_after, "
    "error_code, error_message, result_path, thumb_path, result_meta, review_status, "
    "reviewed_by, reviewed_at, batch_id, created_at, started_at, finished_at, updated_at"
)
SQLITE_INSERT = (
    f"INSERT INTO jobs ({COLUMNS}) VALUES ({', '.join('?' for _ in COLUMNS.split(', '))})"
)


@dataclass
class Row:
    id: str
    user_id: str
    provider: str
    model: str
    prompt: str
    status: str
    attempts: int
    max_attempts: int
    run_after: datetime
    error_code: str | None
    error_message: str | None
    result_path: str | None
    thumb_path: str | None
    result_meta: dict[str, Any]
    review_status: str
    reviewed_by: str | None
    reviewed_at: datetime | None
    batch_id: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


def make_rows(count: int, user_ids: list[str], rng: random.Random) -> Iterator[Row]:
    """Jobs over the last 60 days: 80% done, 10% failed, 5% canceled, 5% queued; a third of the
    done ones reviewed; costs on most non-demo results."""
    now = datetime.now(UTC)
    for _ in range(count):
        job_id = str(uuid.uuid4())
        user = rng.choice(user_ids)
        provider = rng.choice(list(PROVIDERS))
        created = now - timedelta(seconds=rng.uniform(0, 60 * 86400))
        roll = rng.random()
        status = "done" if roll < 0.8 else "failed" if roll < 0.9 else "canceled"
        status = "queued" if roll >= 0.95 else status
        row = Row(
            id=job_id,
            user_id=user,
            provider=provider,
            model=rng.choice(PROVIDERS[provider]),
            prompt=" ".join(rng.choice(WORDS) for _ in range(8)),
            status=status,
            attempts=0 if status == "queued" else 1,
            max_attempts=4,
            run_after=created,
            error_code=None,
            error_message=None,
            result_path=None,
            thumb_path=None,
            result_meta={},
            review_status="unreviewed",
            reviewed_by=None,
            reviewed_at=None,
            batch_id=str(uuid.uuid4()),
            created_at=created,
            started_at=None,
            finished_at=None,
            updated_at=created,
        )
        if status in ("done", "failed"):
            row.started_at = created + timedelta(seconds=rng.uniform(0.01, 2))
            row.finished_at = row.started_at + timedelta(seconds=rng.lognormvariate(1.5, 0.5))
        if status == "canceled":
            row.finished_at = created + timedelta(seconds=5)
        if status == "done":
            row.result_path = f"{user}/{job_id}.png"
            row.thumb_path = f"{user}/{job_id}.thumb.webp"
            row.result_meta = {"bytes": rng.randint(200_000, 2_000_000), "mime": "image/png"}
            if provider != "demo" and rng.random() < 0.7:
                row.result_meta["cost_usd"] = round(rng.uniform(0.01, 0.2), 4)
            if rng.random() < 0.3:
                row.review_status = rng.choice(["approved", "rejected", "flagged"])
                row.reviewed_by, row.reviewed_at = user_ids[0], row.finished_at
        if status == "failed":
            row.error_code = rng.choice(["safety_blocked", "transient", "invalid_request"])
            row.error_message = "failed"
        row.updated_at = row.finished_at or created
        yield row


def _values(row: Row, convert: Callable[[datetime], Any], meta: Callable[[dict], Any]) -> tuple:
    out = []
    for name in COLUMNS.split(", "):
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = convert(value)
        elif name == "result_meta":
            value = meta(value)
        out.append(value)
    return tuple(out)


STATS_TRIGGERS = ("jobs_stats_insert", "jobs_stats_delete", "jobs_stats_update")


def seed_local(backend: LocalBackend, rows: int, users: int, rng: random.Random) -> list[str]:
    """Insert the rows as an existing deployment holds them, then upgrade it: the statistics
    rollups' triggers (migration 012) are off during the inserts (a row trigger per job makes a
    1M seed several times slower) and migration 012 runs again afterwards, which backfills the
    rollups from the jobs and makes the triggers again; its time is printed."""
    assert backend.db is not None
    user_ids = [str(uuid.uuid4()) for _ in range(users)]
    with backend.db.write() as conn:
        for trigger in STATS_TRIGGERS:
            conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    batch: list[tuple] = []
    for row in make_rows(rows, user_ids, rng):
        batch.append(_values(row, to_us, json.dumps))
        if len(batch) >= 10_000:
            with backend.db.write() as conn:
                conn.executemany(SQLITE_INSERT, batch)
            batch.clear()
    with backend.db.write() as conn:
        conn.executemany(SQLITE_INSERT, batch)
    t0 = time.perf_counter()
    with backend.db.write() as conn:
        _apply(conn, MIGRATIONS[11])  # 012_stats_rollups.sql
    print(
        f"local: migration 012 (rollup backfill) over {rows:,} jobs: "
        f"{time.perf_counter() - t0:.1f} s"
    )
    with backend.db.write() as conn:
        conn.execute("ANALYZE")
    return user_ids


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, max) milliseconds over `repeat` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), max(samples)


def report(title: str, calls: dict[str, Callable[[], object]], repeat: int) -> None:
    print(f"\n{title} (ms, median / max of {repeat}):")
    for name, fn in calls.items():
        med, worst = timed(fn, repeat)
        print(f"  {name:<46} {med:8.2f} / {worst:8.2f}")


# ---- what is measured: the same calls for both backends ----------------------------------------


def page_queries(backend: Backend, user_ids: list[str]) -> dict[str, Callable[[], object]]:
    jobs, admin = backend.jobs, backend.admin
    assert admin is not None
    unreviewed = JobQuery(
        statuses=(JobStatus.DONE,),
        review_statuses=(ReviewStatus.UNREVIEWED,),
        oldest_first=True,
        limit=24,
    )
    second = jobs.list_jobs(unreviewed).next_cursor
    week_ago = datetime.now(UTC) - timedelta(days=7)
    return {
        "review queue, page 1 (oldest unreviewed)": lambda: jobs.list_jobs(unreviewed),
        "review queue, page 2 (cursor)": lambda: jobs.list_jobs(replace(unreviewed, cursor=second)),
        "review queue, any review status, newest": lambda: jobs.list_jobs(
            JobQuery(statuses=(JobStatus.DONE,), limit=24)
        ),
        "review queue, provider=gemini": lambda: jobs.list_jobs(
            replace(unreviewed, providers=("gemini",))
        ),
        "review queue, one user": lambda: jobs.list_jobs(replace(unreviewed, user_id=user_ids[3])),
        "review queue, last 7 days": lambda: jobs.list_jobs(
            replace(unreviewed, created_after=week_ago)
        ),
        "review queue, prompt text 'neon fox'": lambda: jobs.list_jobs(
            replace(unreviewed, text="neon fox")
        ),
        "history page (one user, newest first)": lambda: jobs.list_jobs(
            JobQuery(user_id=user_ids[5], limit=24)
        ),
        "admin user list (user_activity)": admin.user_activity,
    }


def stats_queries(backend: Backend) -> dict[str, Callable[[], object]]:
    admin = backend.admin
    assert admin is not None
    since = datetime.now(UTC) - timedelta(days=30)
    old = datetime.now(UTC) - timedelta(days=7)
    return {
        "usage_stats (30 days)": lambda: admin.usage_stats(since),
        "usage_stats (61 days: every row)": lambda: admin.usage_stats(since - timedelta(days=31)),
        "purge preview (done > 7 d)": lambda: admin.purge_summary(
            statuses=(JobStatus.DONE,), finished_before=old
        ),
        "queue_depth": backend.jobs.queue_depth,
    }


def purge_throughput(backend: Backend, oldest_done: list[tuple[str, str, datetime]]) -> None:
    """Give the given done jobs real files, then purge exactly them (files, then rows)."""
    if not oldest_done:
        return
    payload = b"\x89PNG" + bytes(2_000)
    for _job_id, result_path, _finished in oldest_done:
        backend.blobs.put(result_path, payload, "image/png")
        backend.blobs.put(result_path[: -len(".png")] + ".thumb.webp", payload[:200], "image/webp")
    cutoff = oldest_done[-1][2] + timedelta(microseconds=1)
    criteria = purge.criteria_before([JobStatus.DONE], cutoff)
    summary = purge.preview(backend, criteria)
    t0 = time.perf_counter()
    result = purge.purge(backend, criteria)
    seconds = time.perf_counter() - t0
    left = sum(1 for _i, path, _f in oldest_done if backend.blobs.size(path) is not None)
    print(
        f"\npurge: {result.deleted_jobs:,} jobs ({result.deleted_objects:,} files) in "
        f"{seconds:.2f} s = {result.deleted_jobs / seconds:,.0f} jobs/s, {result.batches} batches; "
        f"preview {summary.jobs:,} jobs / {summary.bytes:,} B = deleted "
        f"{result.deleted_jobs:,} / {result.deleted_bytes:,} B; files left: {left}"
    )


# ---- local ------------------------------------------------------------------------------------


def run_local(args: argparse.Namespace) -> None:
    rng = random.Random(7)
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="studio-scale-"))
    settings = replace(Settings.load(env={}, secrets_path=None), data_dir=data_dir)
    backend = open_local_backend(settings)
    assert backend.db is not None
    try:
        have = backend.db.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        if have:  # a kept DATA_DIR from an earlier run: measure it as it is
            rows = backend.db.conn.execute("SELECT DISTINCT user_id FROM jobs").fetchall()
            user_ids = [r[0] for r in rows]
            print(f"local: reusing {have:,} jobs for {len(user_ids)} users in {data_dir}")
        else:
            t0 = time.perf_counter()
            user_ids = seed_local(backend, args.rows, args.users, rng)
            seconds = time.perf_counter() - t0
            print(f"local: seeded {args.rows:,} jobs for {args.users} users in {seconds:.1f} s")
        report("page queries, target <= 50", page_queries(backend, user_ids), args.repeat)
        report("stats queries, target <= 500", stats_queries(backend), max(3, args.repeat // 4))
        if args.purge:
            rows = backend.db.conn.execute(
                "SELECT id, result_path, finished_at FROM jobs WHERE status = 'done' "
                "ORDER BY finished_at LIMIT ?",
                (args.purge,),
            ).fetchall()
            oldest = [(r[0], r[1], datetime.fromtimestamp(r[2] / 1e6, UTC)) for r in rows]
            purge_throughput(backend, oldest)
    finally:
        backend.close()
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


# ---- supabase (the test PostgreSQL 15 and gateway of tests/integration) ------------------------


def schema_backfill() -> str:
    """The statistics backfill section of supabase-schema.sql (what an upgrade runs)."""
    text = (_HERE.parent / "supabase-schema.sql").read_text()
    start = text.index("-- The backfill:")
    return text[start : text.index("-- Admin page figures", start)]


def run_supabase(args: argparse.Namespace) -> None:
    from psycopg.types.json import Jsonb

    from core.backends.supabase import open_supabase_backend
    from tests.integration.pg import reset_database, superuser
    from tests.integration.supabase_factory import gateway, supabase_settings

    rng = random.Random(7)
    gw = gateway()
    reset_database(gw.cluster)
    user_ids = [str(uuid.uuid4()) for _ in range(args.users)]
    t0 = time.perf_counter()
    with superuser(gw.cluster) as conn:
        with conn.cursor() as cur:
            cur.executemany(
                "insert into auth.users (id, email) values (%s, %s)",
                [(u, f"user{n}@example.com") for n, u in enumerate(user_ids)],
            )
            # As for SQLite: the rows go in as an existing deployment holds them, without the
            # rollups' row triggers, then the schema's own backfill fills the rollups.
            for trigger in STATS_TRIGGERS:
                cur.execute(f"alter table public.jobs disable trigger {trigger}")
            with cur.copy(f"copy public.jobs ({COLUMNS}) from stdin") as copy:
                for row in make_rows(args.rows, user_ids, rng):
                    copy.write_row(_values(row, lambda d: d, Jsonb))
            for trigger in STATS_TRIGGERS:
                cur.execute(f"alter table public.jobs enable trigger {trigger}")
        conn.commit()
        print(f"supabase: copied {args.rows:,} jobs in {time.perf_counter() - t0:.1f} s")
        t1 = time.perf_counter()
        conn.execute(schema_backfill())
        conn.execute("analyze")
        conn.commit()
    print(
        f"supabase: rollup backfill {time.perf_counter() - t1:.1f} s; seeded {args.rows:,} jobs "
        f"for {args.users} users in {time.perf_counter() - t0:.1f} s "
        f"(PostgreSQL 15 at {gw.cluster.dsn()})"
    )

    with superuser(gw.cluster) as db:
        db.autocommit = True

        def sql(statement: str, *params: object) -> Callable[[], object]:
            return lambda: db.execute(statement, params).fetchall()

        since = datetime.now(UTC) - timedelta(days=30)
        old = datetime.now(UTC) - timedelta(days=7)
        week = datetime.now(UTC) - timedelta(days=7)
        queue = (
            "select * from public.list_jobs(p_statuses => '{done}', "
            "p_review_statuses => '{unreviewed}', p_oldest_first => true, p_limit => 25"
        )
        cursor_at, cursor_id = db.execute(
            "select created_at, id " + queue[len("select * ") :] + ") offset 23 limit 1"
        ).fetchone()
        db_calls = {
            "review queue, page 1 (oldest unreviewed)": sql(queue + ")"),
            "review queue, page 2 (cursor)": sql(
                queue + ", p_cursor_created_at => %s, p_cursor_id => %s)", cursor_at, cursor_id
            ),
            "review queue, any review status, newest": sql(
                "select * from public.list_jobs(p_statuses => '{done}', p_limit => 25)"
            ),
            "review queue, provider=gemini": sql(queue + ", p_providers => '{gemini}')"),
            "review queue, one user": sql(queue + ", p_user_id => %s)", user_ids[3]),
            "review queue, last 7 days": sql(queue + ", p_created_after => %s)", week),
            "review queue, prompt text 'neon fox'": sql(queue + ", p_text => 'neon fox')"),
            "history page (one user, newest first)": sql(
                "select * from public.list_jobs(p_user_id => %s, p_limit => 25)", user_ids[5]
            ),
            "admin user list (user_activity)": sql("select * from public.user_activity()"),
        }
        report("page queries, SQL on a direct connection, target <= 50", db_calls, args.repeat)
        stats_db = {
            "job_stats (30 days)": sql("select public.job_stats(%s, 10)", since),
            "job_stats (61 days: every row)": sql(
                "select public.job_stats(%s, 10)", since - timedelta(days=31)
            ),
            "purge_summary (done > 7 d)": sql(
                "select * from public.purge_summary('{done}', %s)", old
            ),
            "queue_depth": sql("select * from public.queue_depth()"),
        }
        report(
            "stats, SQL on a direct connection, target <= 500", stats_db, max(3, args.repeat // 4)
        )
        oldest = db.execute(
            "select id::text, result_path, finished_at from public.jobs where status = 'done' "
            "order by finished_at limit %s",
            (args.purge,),
        ).fetchall()

    settings = supabase_settings(Settings.load(env={}, secrets_path=None), gw)
    backend = open_supabase_backend(settings)
    try:
        repeat = max(3, args.repeat // 4)
        report(
            "page queries through supabase-py + gateway", page_queries(backend, user_ids), repeat
        )
        report("stats through supabase-py + gateway", stats_queries(backend), 3)
        purge_throughput(backend, [(i, p, f) for i, p, f in oldest])
    finally:
        backend.close()
        gw.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["local", "supabase"], default="local")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--purge", type=int, default=5_000, help="jobs to purge with files")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="local: use this DATA_DIR and keep it")
    args = parser.parse_args()
    (run_supabase if args.backend == "supabase" else run_local)(args)


if __name__ == "__main__":
    main()
