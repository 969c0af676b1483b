"""The local backend's AdminStore: purge summaries, sweep-run records, user activity, quotas
and the usage statistics of the admin page, on the same SQLite file as the jobs.

Its table (`sweep_runs`), the virtual columns and the indexes behind the review queue and the
statistics are part of the versioned schema in local.py (migration 3)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from core.backends.common import finished_statuses, provider_latency
from core.backends.sqlite.db import Database, from_us, now_us, to_us
from core.backends.sqlite.jobs import purge_filter
from core.domain.models import JobStatus, ReviewStatus
from core.ports import (
    DailyCount,
    FailureCount,
    PurgeSummary,
    SpendRow,
    SweepRun,
    UsageStats,
    UserActivity,
    UserUsage,
)

DAY_US = 86_400 * 1_000_000
SWEEP_RUNS_KEPT = 500

SQL_RECORD_SWEEP = (
    "INSERT INTO sweep_runs (id, trigger, owner, started_at, finished_at, deleted_jobs, "
    "deleted_bytes, kept_jobs, errors) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQL_PRUNE_SWEEPS = (
    "DELETE FROM sweep_runs WHERE id NOT IN "
    "(SELECT id FROM sweep_runs ORDER BY started_at DESC LIMIT ?)"
)
SQL_LIST_SWEEPS = "SELECT * FROM sweep_runs ORDER BY started_at DESC, id LIMIT ?"
# The counts come from user_job_totals (kept by triggers, migration 011); the latest activity is
# one probe of jobs_history per user rather than a walk over every job.
SQL_USER_ACTIVITY = (
    "SELECT t.user_id, t.jobs, (SELECT MAX(j.created_at) FROM jobs j INDEXED BY jobs_history "
    "WHERE j.user_id = t.user_id) FROM user_job_totals t WHERE t.jobs > 0"
)
SQL_SET_QUOTA = "UPDATE users SET daily_quota = ? WHERE id = ?"
SQL_CANCEL_USER_JOBS = (
    "UPDATE jobs SET status = 'canceled', finished_at = ?, updated_at = ? "
    "WHERE user_id = ? AND status = 'queued'"
)
# One UTC day at a time: each groups a few rows in memory instead of sorting the whole range.
SQL_ONE_DAY = (
    "SELECT provider, COUNT(*), SUM(status = 'failed') FROM jobs INDEXED BY jobs_by_day "
    "WHERE created_at >= ? AND created_at < ? GROUP BY provider ORDER BY provider"
)
SQL_FAILURES = (
    "SELECT provider, COALESCE(error_code, 'unknown'), COUNT(*) FROM jobs INDEXED BY jobs_by_day "
    "WHERE created_at >= ? AND status = 'failed' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2"
)
SQL_DURATIONS = (
    "SELECT provider, finished_at - started_at FROM jobs INDEXED BY jobs_by_day "
    "WHERE created_at >= ? "
    "AND status = 'done' AND started_at IS NOT NULL AND finished_at IS NOT NULL"
)
SQL_TOP_USERS = (
    "SELECT user_id, COUNT(*) AS n, SUM(status = 'done'), SUM(status = 'failed') "
    "FROM jobs INDEXED BY jobs_user_usage WHERE created_at >= ? "
    "GROUP BY user_id ORDER BY n DESC, user_id LIMIT ?"
)
SQL_SPEND = (
    "SELECT provider, model, user_id, COUNT(*), COUNT(admin_spend_usd), "
    "COALESCE(SUM(admin_spend_usd), 0) "
    "FROM jobs INDEXED BY jobs_spend_by WHERE status = 'done' AND created_at >= ? "
    "GROUP BY provider, model, user_id"
)


class LocalAdminStore:
    """AdminStore over the local SQLite database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # ---- purge and sweeps ------------------------------------------------------------------

    def purge_summary(
        self,
        *,
        statuses: tuple[JobStatus, ...],
        finished_before: datetime,
        user_id: str | None = None,
        exclude_review: tuple[ReviewStatus, ...] = (),
    ) -> PurgeSummary:
        values = finished_statuses(statuses)
        if not values:
            return PurgeSummary(jobs=0, bytes=0, objects=0)
        where, args = purge_filter(values, finished_before, user_id, exclude_review)
        sql = (
            "SELECT COUNT(*), COALESCE(SUM(admin_bytes), 0), COALESCE(SUM(admin_objects), 0) "
            f"FROM jobs INDEXED BY jobs_purge_cover WHERE {where}"
        )
        count, size, objects = self._db.conn.execute(sql, args).fetchone()
        return PurgeSummary(jobs=int(count), bytes=int(size), objects=int(objects))

    def record_sweep(self, run: SweepRun) -> None:
        args = (
            run.id,
            run.trigger,
            run.owner,
            to_us(run.started_at),
            to_us(run.finished_at),
            run.deleted_jobs,
            run.deleted_bytes,
            run.kept_jobs,
            json.dumps(list(run.errors)),
        )
        with self._db.write() as conn:
            conn.execute(SQL_RECORD_SWEEP, args)
            conn.execute(SQL_PRUNE_SWEEPS, (SWEEP_RUNS_KEPT,))

    def list_sweeps(self, limit: int = 20) -> list[SweepRun]:
        rows = self._db.conn.execute(SQL_LIST_SWEEPS, (max(1, int(limit)),)).fetchall()
        return [
            SweepRun(
                id=r["id"],
                trigger=r["trigger"],
                owner=r["owner"],
                started_at=from_us(r["started_at"]) or datetime.now(UTC),
                finished_at=from_us(r["finished_at"]) or datetime.now(UTC),
                deleted_jobs=r["deleted_jobs"],
                deleted_bytes=r["deleted_bytes"],
                kept_jobs=r["kept_jobs"],
                errors=tuple(json.loads(r["errors"] or "[]")),
            )
            for r in rows
        ]

    # ---- users -----------------------------------------------------------------------------

    def user_activity(self) -> dict[str, UserActivity]:
        rows = self._db.conn.execute(SQL_USER_ACTIVITY).fetchall()
        return {
            user_id: UserActivity(user_id=user_id, jobs=count, last_activity=from_us(last))
            for user_id, count, last in rows
        }

    def set_daily_quota(self, user_id: str, quota: int | None) -> None:
        with self._db.write() as conn:
            conn.execute(SQL_SET_QUOTA, (quota, user_id))

    def cancel_user_jobs(self, user_id: str) -> int:
        now = now_us()
        with self._db.write() as conn:
            return conn.execute(SQL_CANCEL_USER_JOBS, (now, now, user_id)).rowcount

    # ---- statistics ------------------------------------------------------------------------

    def usage_stats(self, since: datetime, *, top_users: int = 10) -> UsageStats:
        start = to_us(since)
        conn = self._db.conn
        conn.execute("BEGIN")  # one snapshot for every figure
        try:
            per_day = []
            for day in range(start // DAY_US, now_us() // DAY_US + 1):
                bounds = (max(start, day * DAY_US), (day + 1) * DAY_US)
                for provider, jobs, failed in conn.execute(SQL_ONE_DAY, bounds):
                    on = (from_us(day * DAY_US) or since).date()
                    per_day.append(DailyCount(on, provider, jobs, failed or 0))
            failures = [
                FailureCount(provider=p, error_code=code, jobs=n)
                for p, code, n in conn.execute(SQL_FAILURES, (start,))
            ]
            durations: dict[str, list[float]] = defaultdict(list)
            for provider, micros in conn.execute(SQL_DURATIONS, (start,)):
                durations[provider].append(micros / 1_000_000)
            top = [
                UserUsage(user_id=u, jobs=n, done=done or 0, failed=failed or 0)
                for u, n, done, failed in conn.execute(SQL_TOP_USERS, (start, max(1, top_users)))
            ]
            spend = [
                SpendRow(
                    provider=p, model=m, user_id=u, images=n, priced=priced, recorded_usd=float(usd)
                )
                for p, m, u, n, priced, usd in conn.execute(SQL_SPEND, (start,))
            ]
        finally:
            conn.execute("COMMIT")
        return UsageStats(
            since=since,
            per_day=per_day,
            failures=failures,
            latency=provider_latency(durations),
            top_users=top,
            spend=spend,
        )
