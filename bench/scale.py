"""Scale check of the review/admin queries on the local backend.

Seeds N job rows (default 100,000) straight into a fresh SQLite database, then measures:
- one review-queue page (oldest unreviewed first) and one history page, first and later pages,
  with and without filters: database time of `list_jobs` (targets: <= 50 ms);
- the admin statistics (`usage_stats` for 30 days, user activity, purge preview, queue depth):
  (target: <= 500 ms);
- purge throughput: jobs/s for deleting real files + rows through core.purge.

    python bench/scale.py [--rows 100000] [--purge 5000] [--keep DIR]
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
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

# bench/ holds queue.py, which would shadow the standard library's `queue`: drop the folder
# from the path and add the repo root.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from core import purge  # noqa: E402
from core.backends.local import LocalBackend, open_local_backend, to_us  # noqa: E402
from core.models import JobQuery, JobStatus, ReviewStatus  # noqa: E402
from core.settings import Settings  # noqa: E402

PROVIDERS = {
    "openai": ["gpt-image-1", "gpt-image-1-mini"],
    "gemini": ["gemini-2.5-flash-image"],
    "ideogram": ["V_3"],
    "demo": ["demo-pattern", "demo-poster"],
}
WORDS = ["lighthouse", "dusk", "fox", "whale", "city", "neon", "forest", "river", "cat", "robot"]
INSERT = (
    "INSERT INTO jobs (id, user_id, provider, model, kind, prompt, params, status, attempts, "
    "max_attempts, run_after, error_code, error_message, result_path, thumb_path, result_meta, "
    "review_status, reviewed_by, reviewed_at, batch_id, created_at, started_at, finished_at, "
    "updated_at) VALUES (?, ?, ?, ?, 'generate', ?, '{}', ?, 1, 4, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
    "?, ?, ?, ?, ?)"
)


def seed(backend: LocalBackend, rows: int, users: int, rng: random.Random) -> list[str]:
    """Insert `rows` jobs spread over 60 days; return the user ids."""
    user_ids = [str(uuid.uuid4()) for _ in range(users)]
    now = datetime.now(UTC)
    span = 60 * 86400
    batch: list[tuple[object, ...]] = []
    assert backend.db is not None
    for _ in range(rows):
        job_id = str(uuid.uuid4())
        user = rng.choice(user_ids)
        provider = rng.choice(list(PROVIDERS))
        model = rng.choice(PROVIDERS[provider])
        created = now - timedelta(seconds=rng.uniform(0, span))
        roll = rng.random()
        status = (
            "done"
            if roll < 0.8
            else "failed"
            if roll < 0.9
            else "canceled"
            if roll < 0.95
            else "queued"
        )
        started = finished = None
        result = thumb = error_code = error_message = None
        meta: dict[str, object] = {}
        review, reviewer, reviewed_at = "unreviewed", None, None
        if status in ("done", "failed"):
            started = created + timedelta(seconds=rng.uniform(0.01, 2))
            finished = started + timedelta(seconds=rng.lognormvariate(1.5, 0.5))
        if status == "canceled":
            finished = created + timedelta(seconds=5)
        if status == "done":
            result, thumb = f"{user}/{job_id}.png", f"{user}/{job_id}.thumb.webp"
            meta = {"bytes": rng.randint(200_000, 2_000_000), "mime": "image/png"}
            if provider != "demo" and rng.random() < 0.7:
                meta["cost_usd"] = round(rng.uniform(0.01, 0.2), 4)
            if rng.random() < 0.3:
                review = rng.choice(["approved", "rejected", "flagged"])
                reviewer, reviewed_at = user_ids[0], to_us(finished or created)
        if status == "failed":
            error_code = rng.choice(["safety_blocked", "transient", "invalid_request"])
            error_message = "failed"
        prompt = " ".join(rng.choice(WORDS) for _ in range(8))
        batch.append(
            (
                job_id,
                user,
                provider,
                model,
                prompt,
                status,
                to_us(created),
                error_code,
                error_message,
                result,
                thumb,
                json.dumps(meta),
                review,
                reviewer,
                reviewed_at,
                str(uuid.uuid4()),
                to_us(created),
                to_us(started) if started else None,
                to_us(finished) if finished else None,
                to_us(finished or created),
            )
        )
        if len(batch) >= 10_000:
            with backend.db.write() as conn:
                conn.executemany(INSERT, batch)
            batch.clear()
    if batch:
        with backend.db.write() as conn:
            conn.executemany(INSERT, batch)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--purge", type=int, default=5_000, help="jobs to purge with files")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="use this DATA_DIR and keep it")
    args = parser.parse_args()
    rng = random.Random(7)
    data_dir = args.keep or Path(tempfile.mkdtemp(prefix="studio-scale-"))
    settings = replace(Settings.load(env={}, secrets_path=None), data_dir=data_dir)
    backend = open_local_backend(settings)
    try:
        assert backend.db is not None
        have = backend.db.conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        if have:  # a kept DATA_DIR from an earlier run: measure it as it is
            rows = backend.db.conn.execute("SELECT DISTINCT user_id FROM jobs").fetchall()
            user_ids = [r[0] for r in rows]
            print(f"reusing {have:,} jobs for {len(user_ids)} users in {data_dir}")
        else:
            t0 = time.perf_counter()
            user_ids = seed(backend, args.rows, args.users, rng)
            seconds = time.perf_counter() - t0
            print(f"seeded {args.rows:,} jobs for {args.users} users in {seconds:.1f} s")
        run(backend, user_ids, args)
    finally:
        backend.close()
        if args.keep is None:
            shutil.rmtree(data_dir, ignore_errors=True)


def run(backend: LocalBackend, user_ids: list[str], args: argparse.Namespace) -> None:
    jobs, admin = backend.jobs, backend.admin
    assert admin is not None
    unreviewed = JobQuery(
        statuses=(JobStatus.DONE,),
        review_statuses=(ReviewStatus.UNREVIEWED,),
        oldest_first=True,
        limit=24,
    )
    page1 = jobs.list_jobs(unreviewed)
    deep = jobs.list_jobs(replace(unreviewed, cursor=page1.next_cursor))
    week_ago = datetime.now(UTC) - timedelta(days=7)
    queries: dict[str, Callable[[], object]] = {
        "review queue, page 1 (oldest unreviewed)": lambda: jobs.list_jobs(unreviewed),
        "review queue, page 2 (cursor)": lambda: jobs.list_jobs(
            replace(unreviewed, cursor=deep.next_cursor)
        ),
        "review queue, all statuses newest first": lambda: jobs.list_jobs(
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
    }
    print(f"\npage queries (ms, median / max of {args.repeat}; target <= 50):")
    for name, fn in queries.items():
        med, worst = timed(fn, args.repeat)
        print(f"  {name:<45} {med:8.2f} / {worst:8.2f}")

    since = datetime.now(UTC) - timedelta(days=30)
    old = datetime.now(UTC) - timedelta(days=7)
    stats_queries: dict[str, Callable[[], object]] = {
        "usage_stats (30 days)": lambda: admin.usage_stats(since),
        "usage_stats (60 days, everything)": lambda: admin.usage_stats(since - timedelta(days=31)),
        "user_activity": admin.user_activity,
        "purge preview (done > 7 d)": lambda: admin.purge_summary(
            statuses=(JobStatus.DONE,), finished_before=old
        ),
        "queue_depth": jobs.queue_depth,
    }
    repeat = max(3, args.repeat // 4)
    print(f"\nstats queries (ms, median / max of {repeat}; target <= 500):")
    for name, fn in stats_queries.items():
        med, worst = timed(fn, repeat)
        print(f"  {name:<45} {med:8.2f} / {worst:8.2f}")

    purge_throughput(backend, args.purge)


def purge_throughput(backend: LocalBackend, count: int) -> None:
    """Give the oldest `count` done jobs real files, then purge exactly them."""
    assert backend.db is not None
    rows = backend.db.conn.execute(
        "SELECT id, user_id, result_path, thumb_path, finished_at FROM jobs "
        "WHERE status = 'done' ORDER BY finished_at LIMIT ?",
        (count,),
    ).fetchall()
    if not rows:
        return
    payload = b"\x89PNG" + bytes(2_000)
    for row in rows:
        backend.blobs.put(row["result_path"], payload, "image/png")
        backend.blobs.put(row["thumb_path"], payload[:200], "image/webp")
    cutoff = datetime.fromtimestamp(rows[-1]["finished_at"] / 1e6 + 1e-6, UTC)
    criteria = purge.criteria_before([JobStatus.DONE], cutoff)
    summary = purge.preview(backend, criteria)
    t0 = time.perf_counter()
    report = purge.purge(backend, criteria)
    seconds = time.perf_counter() - t0
    left = sum(1 for row in rows if backend.blobs.size(row["result_path"]) is not None)
    print(
        f"\npurge: {report.deleted_jobs:,} jobs ({report.deleted_objects:,} files) in "
        f"{seconds:.2f} s = {report.deleted_jobs / seconds:,.0f} jobs/s, {report.batches} batches; "
        f"preview said {summary.jobs:,} jobs / {summary.bytes:,} B, "
        f"deleted {report.deleted_bytes:,} B; files left: {left}"
    )


if __name__ == "__main__":
    main()
