"""The local backend's AdminStore: purge summaries, sweep-run records, user activity, quotas
and the usage statistics of the admin page, on the same SQLite file as the jobs.

Its table (`sweep_runs`), the virtual columns and the indexes behind the review queue and the
statistics are part of the versioned schema in local.py (migration 3)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

from core.backends.common import LatencyBucket, finished_statuses, histogram_latency
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
# The statistics read the daily rollups kept by triggers (migration 012), from the UTC day of
# `since` on: a few rows per day and provider or user instead of every job of the range.
SQL_PER_DAY = (
    "SELECT day, provider, jobs, failed FROM stats_day_provider "
    "WHERE day >= ? AND jobs > 0 ORDER BY day, provider"
)
SQL_FAILURES = (
    "SELECT provider, error_code, SUM(jobs) AS n FROM stats_day_failure WHERE day >= ? "
    "GROUP BY provider, error_code HAVING n > 0 ORDER BY n DESC, provider, error_code"
)
SQL_LATENCY = (
    "SELECT provider, bucket, SUM(jobs) AS n, SUM(total_us) FROM stats_day_latency "
    "WHERE day >= ? GROUP BY provider, bucket HAVING n > 0"
)
SQL_TOP_USERS = (
    "SELECT user_id, SUM(jobs) AS n, SUM(done), SUM(failed) FROM stats_day_user "
    "WHERE day >= ? GROUP BY user_id HAVING n > 0 ORDER BY n DESC, user_id LIMIT ?"
)
# Spend: the leading days up to the first whole week from the daily table, then whole weeks
# (day / 7) from the weekly one, a third of the rows (migration 012).
SQL_SPEND = (
    "SELECT provider, model, user_id, SUM(images) AS n, SUM(priced) AS priced, "
    "CASE WHEN SUM(priced) > 0 THEN SUM(usd) ELSE 0.0 END FROM ("
    "SELECT provider, model, user_id, images, priced, usd FROM stats_day_spend "
    "WHERE day >= :day AND day < :week * 7 "
    "UNION ALL SELECT provider, model, user_id, images, priced, usd FROM stats_week_spend "
    "WHERE week >= :week) "
    "GROUP BY provider, model, user_id HAVING n > 0 ORDER BY provider, model, user_id"
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
        """Figures for the jobs created from the UTC day of `since` on (the rollups are kept
        per day; the result's `since` is that day's midnight)."""
        first_day = to_us(since) // DAY_US
        conn = self._db.conn
        conn.execute("BEGIN")  # one snapshot for every figure
        try:
            per_day = [
                DailyCount(from_us(day * DAY_US).date(), provider, jobs, failed)
                for day, provider, jobs, failed in conn.execute(SQL_PER_DAY, (first_day,))
            ]
            failures = [
                FailureCount(provider=p, error_code=code, jobs=n)
                for p, code, n in conn.execute(SQL_FAILURES, (first_day,))
            ]
            histogram: dict[str, list[LatencyBucket]] = defaultdict(list)
            for provider, bucket, n, total_us in conn.execute(SQL_LATENCY, (first_day,)):
                histogram[provider].append(LatencyBucket(bucket, n, total_us))
            top = [
                UserUsage(user_id=u, jobs=n, done=done, failed=failed)
                for u, n, done, failed in conn.execute(
                    SQL_TOP_USERS, (first_day, max(1, top_users))
                )
            ]
            spend = [
                SpendRow(
                    provider=p, model=m, user_id=u, images=n, priced=priced, recorded_usd=float(usd)
                )
                for p, m, u, n, priced, usd in conn.execute(
                    SQL_SPEND, {"day": first_day, "week": -(-first_day // 7)}
                )
            ]
        finally:
            conn.execute("COMMIT")
        return UsageStats(
            since=from_us(first_day * DAY_US),
            per_day=per_day,
            failures=failures,
            latency=histogram_latency(histogram),
            top_users=top,
            spend=spend,
        )
