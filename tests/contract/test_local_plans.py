"""The hot listing queries of the local backend use their indexes (issue 13, scale): History,
Review and the admin user list read a range of an index in the order they return, never a scan
of the whole jobs table and never a temporary B-tree to sort the matches.

The statements are the ones the store really runs (captured with a trace callback, parameters
expanded), checked with `EXPLAIN QUERY PLAN` on 5,000 jobs of 50 users after `ANALYZE`;
bench/scale.py measures the same calls at 1,000,000 jobs."""

from __future__ import annotations

import random
import re
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.backends.sqlite import LocalBackend, open_local_backend
from core.domain.models import JobQuery, JobStatus, ReviewStatus
from core.domain.settings import Settings
from tests.constants import FAST_HASHER, STATS_ROLLUP_TABLES

JOBS = 5_000
USERS = 50
MINUTE_US = 60_000_000


@pytest.fixture
def local(settings: Settings, tmp_path: Path) -> Iterator[LocalBackend]:
    backend = open_local_backend(
        replace(settings, data_dir=tmp_path / "data"), password_hasher=FAST_HASHER
    )
    assert backend.db is not None
    rng = random.Random(13)
    users = [str(uuid.uuid4()) for _ in range(USERS)]
    rows = []
    for n in range(JOBS):
        status = rng.choice(["done"] * 16 + ["failed", "failed", "canceled", "queued"])
        review = "unreviewed"
        if status == "done" and rng.random() < 0.3:
            review = rng.choice(["approved", "rejected", "flagged"])
        created = 1_700_000_000_000_000 + n * MINUTE_US
        rows.append(
            (str(uuid.uuid4()), rng.choice(users), rng.choice(["openai", "gemini", "demo"]),
             "m", f"a lighthouse {n}", status, 4, created, review, str(uuid.uuid4()), created,
             created)
        )  # fmt: skip
    with backend.db.write() as conn:
        conn.executemany(
            "INSERT INTO jobs (id, user_id, provider, model, prompt, status, max_attempts, "
            "run_after, review_status, batch_id, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("ANALYZE")
    try:
        yield backend
    finally:
        backend.close()


@pytest.fixture
def plans(local: LocalBackend) -> Callable[[Callable[[], object]], list[str]]:
    """run(call) -> the query plans (one line per step) of the statements on jobs it ran."""
    assert local.db is not None
    conn: sqlite3.Connection = local.db.conn

    def run(call: Callable[[], object]) -> list[str]:
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        try:
            result = call()
        finally:
            conn.set_trace_callback(None)
        assert result, "the call returned nothing: the plan would prove nothing"
        reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "jobs" in s]
        assert reads, statements
        out = []
        for statement in reads:
            steps = conn.execute("EXPLAIN QUERY PLAN " + statement).fetchall()
            out.append("\n".join(row[3] for row in steps))
        return out

    return run


def _assert_uses(plans: list[str], index: str) -> None:
    for plan in plans:
        assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan, plan
        assert "SCAN jobs\n" not in plan + "\n" and "SCAN j\n" not in plan + "\n", plan
        assert "TEMP B-TREE" not in plan, plan


def _users(local: LocalBackend) -> list[str]:
    assert local.db is not None
    return [r[0] for r in local.db.conn.execute("SELECT DISTINCT user_id FROM jobs ORDER BY 1")]


def test_history_reads_the_users_index(local, plans):
    user = _users(local)[7]
    newest = plans(lambda: local.jobs.list_jobs(JobQuery(user_id=user, limit=24)).items)
    _assert_uses(newest, "jobs_history")
    page = local.jobs.list_jobs(JobQuery(user_id=user, limit=24))
    later = plans(
        lambda: local.jobs.list_jobs(JobQuery(user_id=user, limit=24, cursor=page.next_cursor))
    )
    _assert_uses(later, "jobs_history")


@pytest.mark.parametrize("oldest_first", [True, False])
def test_review_queue_reads_the_review_index(local, plans, oldest_first):
    queue = JobQuery(
        statuses=(JobStatus.DONE,),
        review_statuses=(ReviewStatus.UNREVIEWED,),
        oldest_first=oldest_first,
        limit=24,
    )
    _assert_uses(plans(lambda: local.jobs.list_jobs(queue).items), "jobs_review_queue")
    second = replace(queue, cursor=local.jobs.list_jobs(queue).next_cursor)
    _assert_uses(plans(lambda: local.jobs.list_jobs(second).items), "jobs_review_queue")
    gemini = replace(queue, providers=("gemini",))
    _assert_uses(plans(lambda: local.jobs.list_jobs(gemini).items), "jobs_review_queue")
    flagged = replace(queue, review_statuses=(ReviewStatus.FLAGGED,))
    _assert_uses(plans(lambda: local.jobs.list_jobs(flagged).items), "jobs_review_queue")


def test_review_any_status_reads_the_status_index(local, plans):
    done = JobQuery(statuses=(JobStatus.DONE,), limit=24)
    _assert_uses(plans(lambda: local.jobs.list_jobs(done).items), "jobs_status_created")


def test_user_list_probes_each_users_latest_job(local, plans):
    assert local.admin is not None
    found = plans(local.admin.user_activity)
    assert len(found) == 1
    (plan,) = found
    assert "SCAN t" in plan, plan  # one row per user, from user_job_totals
    assert "SEARCH j USING COVERING INDEX jobs_history (user_id=?)" in plan, plan
    assert "TEMP B-TREE" not in plan, plan
    activity = local.admin.user_activity()
    assert len(activity) == USERS
    assert sum(a.jobs for a in activity.values()) == JOBS


def test_statistics_read_a_range_of_days_of_the_rollups_never_the_jobs(local):
    """usage_stats (the admin statistics page) reads the rollup tables of migration 012 by their
    primary key's leading `day` (spend: `week` too), from the first day of the range; not one
    statement touches jobs."""
    assert local.db is not None and local.admin is not None
    conn: sqlite3.Connection = local.db.conn
    statements: list[str] = []
    since = datetime.fromtimestamp(1_700_000_000 + 86_400, UTC)
    conn.set_trace_callback(statements.append)
    try:
        stats = local.admin.usage_stats(since)
    finally:
        conn.set_trace_callback(None)
    assert stats.per_day and stats.top_users and stats.failures and stats.spend
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(reads) == 5, statements
    tables = set()
    for statement in reads:
        assert not re.search(r"\b(FROM|JOIN)\s+jobs\b", statement, re.IGNORECASE), statement
        plan = "\n".join(r[3] for r in conn.execute("EXPLAIN QUERY PLAN " + statement))
        found = re.findall(r"SEARCH (stats_\w+) USING PRIMARY KEY \((?:day|week)>\?", plan)
        assert found, plan
        assert not re.search(r"SCAN (stats_|jobs)", plan), plan
        tables.update(found)
    assert tables == STATS_ROLLUP_TABLES
