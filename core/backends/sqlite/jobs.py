"""The local JobStore on SQLite: submission (rate limit, daily quota, idempotency in one
`BEGIN IMMEDIATE` transaction), reading and listing with keyset pagination, review, deletion
and purge candidates. The queue operations come from LocalQueue (local_queue.py). Every
statement of this module is in the block at the top."""

from __future__ import annotations

import json
import math
import sqlite3
from datetime import datetime
from typing import Any

from core.backends.common import check_batch, decode_cursor, encode_cursor, finished_statuses
from core.backends.sqlite.db import JOB_COLUMNS, job_from_row, now_us, sql_marks, to_us
from core.backends.sqlite.queue import LocalQueue
from core.domain.models import (
    Job,
    JobKind,
    JobPage,
    JobQuery,
    JobStatus,
    NewJob,
    ReviewStatus,
)
from core.domain.policy import quota_exceeded, rate_limited

WINDOW_US = 60 * 1_000_000
SUBMISSION_LOG_KEEP_US = 2 * 86_400 * 1_000_000
MAX_LIST_LIMIT = 500

SQL_FIND_IDEMPOTENT_BATCH = "SELECT batch_id FROM idempotency_keys WHERE user_id = ? AND key = ?"
SQL_FORGET_IDEMPOTENCY_KEY = "DELETE FROM idempotency_keys WHERE user_id = ? AND key = ?"
SQL_REMEMBER_IDEMPOTENCY_KEY = (
    "INSERT INTO idempotency_keys (user_id, key, batch_id, created_at) VALUES (?, ?, ?, ?)"
)
SQL_BATCH_JOBS = f"SELECT {JOB_COLUMNS} FROM jobs WHERE batch_id = ? ORDER BY created_at, id"
SQL_RECENT_SUBMISSIONS = (
    "SELECT created_at, count FROM submissions WHERE user_id = ? AND created_at > ? "
    "ORDER BY created_at"
)
SQL_SUBMITTED_AFTER = (
    "SELECT COALESCE(SUM(count), 0) FROM submissions WHERE user_id = ? AND created_at > ?"
)
SQL_SUBMITTED_SINCE = (
    "SELECT COALESCE(SUM(count), 0) FROM submissions WHERE user_id = ? AND created_at >= ?"
)
SQL_LOG_SUBMISSION = "INSERT INTO submissions (user_id, created_at, count) VALUES (?, ?, ?)"
SQL_PRUNE_SUBMISSIONS = "DELETE FROM submissions WHERE user_id = ? AND created_at < ?"
SQL_INSERT_JOB = (
    "INSERT INTO jobs (id, user_id, provider, model, kind, prompt, params, input_path, status, "
    "attempts, max_attempts, run_after, batch_id, idempotency_key, created_at, updated_at, "
    "parent_id, mask_path, reference_paths) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SQL_GET_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"

# A job being generated is never deleted: its provider call runs on and would leave files
# (and a bill) behind a missing row.
SQL_DELETE = "DELETE FROM jobs WHERE id = ? AND status <> 'processing' RETURNING batch_id"
SQL_FORGET_EMPTY_BATCH_KEYS = (
    "DELETE FROM idempotency_keys WHERE batch_id = :batch "
    "AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = :batch)"
)
# Favourites (issue 12): the store sets the mark; JobsService checks that the jobs are the user's.
SQL_STAR = "UPDATE jobs SET starred_at = COALESCE(starred_at, ?) WHERE id = ?"
SQL_UNSTAR = "UPDATE jobs SET starred_at = NULL WHERE id = ?"
SQL_SET_REVIEW = (
    "UPDATE jobs SET review_status = ?, review_note = ?, reviewed_by = ?, reviewed_at = ?, "
    "updated_at = ? WHERE id = ?"
)


class LocalJobStore(LocalQueue):
    """JobStore on SQLite (see core.ports.JobStore for the contract)."""

    # ---- submission ------------------------------------------------------------------------

    def create_jobs(
        self,
        jobs: list[NewJob],
        *,
        rate_limit_per_minute: int,
        daily_quota: int | None = None,
    ) -> list[Job]:
        if not jobs:
            return []
        check_batch(jobs)
        user_id = jobs[0].user_id
        key = jobs[0].idempotency_key
        batch_id = jobs[0].batch_id
        count = len(jobs)
        with self._db.write() as conn:
            now = now_us()
            if key is not None:
                row = conn.execute(SQL_FIND_IDEMPOTENT_BATCH, (user_id, key)).fetchone()
                if row is not None:
                    existing = conn.execute(SQL_BATCH_JOBS, (row["batch_id"],)).fetchall()
                    if existing:
                        return [job_from_row(r) for r in existing]
                    # The batch was deleted since: the key is free again.
                    conn.execute(SQL_FORGET_IDEMPOTENCY_KEY, (user_id, key))
            self._check_rate_limit(conn, user_id, count, rate_limit_per_minute, now)
            if daily_quota is not None:
                self._check_daily_quota(conn, user_id, count, daily_quota, now)
            conn.execute(SQL_PRUNE_SUBMISSIONS, (user_id, now - SUBMISSION_LOG_KEEP_US))
            conn.execute(SQL_LOG_SUBMISSION, (user_id, now, count))
            if key is not None:
                conn.execute(SQL_REMEMBER_IDEMPOTENCY_KEY, (user_id, key, batch_id, now))
            for index, new in enumerate(jobs):
                request = new.request
                # A microsecond apart keeps the batch's order stable in every listing.
                created = now + index
                conn.execute(
                    SQL_INSERT_JOB,
                    (
                        new.id,
                        user_id,
                        request.provider,
                        request.model,
                        JobKind(request.kind).value,
                        request.prompt,
                        json.dumps(request.params or {}),
                        request.input_path,
                        new.max_attempts,
                        created,
                        batch_id,
                        key,
                        created,
                        created,
                        request.parent_id,
                        request.mask_path,
                        json.dumps(list(request.reference_paths)),
                    ),
                )
            rows = conn.execute(SQL_BATCH_JOBS, (batch_id,)).fetchall()
        return [job_from_row(r) for r in rows]

    @staticmethod
    def _check_rate_limit(
        conn: sqlite3.Connection, user_id: str, count: int, limit: int, now: int
    ) -> None:
        since = now - WINDOW_US
        used = conn.execute(SQL_SUBMITTED_AFTER, (user_id, since)).fetchone()[0]
        if used + count <= limit:
            return
        recent = conn.execute(SQL_RECENT_SUBMISSIONS, (user_id, since)).fetchall()
        if count > limit:
            raise rate_limited(limit, None)
        # Wait until enough of the oldest submissions leave the 60 s window.
        must_free = used + count - limit
        freed = 0
        for row in recent:
            freed += row["count"]
            if freed >= must_free:
                wait = math.ceil((row["created_at"] + WINDOW_US - now) / 1_000_000)
                break
        else:  # pragma: no cover - must_free <= used always
            wait = 60
        raise rate_limited(limit, max(1, wait))

    @staticmethod
    def _check_daily_quota(
        conn: sqlite3.Connection, user_id: str, count: int, quota: int, now: int
    ) -> None:
        day_us = 86_400 * 1_000_000
        midnight = now - now % day_us
        used = conn.execute(SQL_SUBMITTED_SINCE, (user_id, midnight)).fetchone()[0]
        if used + count > quota:
            wait = max(1, math.ceil((midnight + day_us - now) / 1_000_000))
            left = max(0, quota - used)
            raise quota_exceeded(quota, left, wait)

    # ---- reading ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        row = self._db.conn.execute(SQL_GET_JOB, (job_id,)).fetchone()
        return None if row is None else job_from_row(row)

    def list_jobs(self, query: JobQuery) -> JobPage:
        where: list[str] = []
        args: list[Any] = []
        if query.user_id is not None:
            where.append("user_id = ?")
            args.append(query.user_id)
        for column, values in (
            ("status", [JobStatus(s).value for s in query.statuses]),
            ("provider", list(query.providers)),
            ("model", list(query.models)),
            ("review_status", [ReviewStatus(s).value for s in query.review_statuses]),
            ("kind", [JobKind(k).value for k in query.kinds]),
        ):
            if values:
                where.append(f"{column} IN ({sql_marks(values)})")
                args.extend(values)
        if query.text:
            where.append("casefold(prompt) LIKE ? ESCAPE '\\'")
            args.append(f"%{_escape_like(query.text.casefold())}%")
        if query.starred:
            where.append("starred_at IS NOT NULL")
        if query.batch_id is not None:
            where.append("batch_id = ?")
            args.append(query.batch_id)
        if query.created_after is not None:
            where.append("created_at >= ?")
            args.append(to_us(query.created_after))
        if query.created_before is not None:
            where.append("created_at < ?")
            args.append(to_us(query.created_before))
        op, order = (">", "ASC") if query.oldest_first else ("<", "DESC")
        if query.cursor:
            created, last_id = decode_cursor(query.cursor, _valid_cursor)
            where.append(f"(created_at {op} ? OR (created_at = ? AND id {op} ?))")
            args.extend([created, created, last_id])
        limit = max(1, min(int(query.limit), MAX_LIST_LIMIT))
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY created_at {order}, id {order} LIMIT ?"
        rows = self._db.conn.execute(sql, [*args, limit + 1]).fetchall()
        items = [job_from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last["created_at"], last["id"])
        return JobPage(items=items, next_cursor=next_cursor)

    def delete_jobs(self, job_ids: list[str]) -> int:
        deleted = 0
        batches: set[str] = set()
        with self._db.write() as conn:
            for job_id in dict.fromkeys(job_ids):
                for row in conn.execute(SQL_DELETE, (job_id,)).fetchall():
                    deleted += 1
                    if row["batch_id"]:
                        batches.add(row["batch_id"])
            for batch in batches:
                conn.execute(SQL_FORGET_EMPTY_BATCH_KEYS, {"batch": batch})
        return deleted

    def set_review(
        self,
        job_ids: list[str],
        *,
        status: ReviewStatus,
        note: str | None,
        reviewer_id: str,
    ) -> int:
        status = ReviewStatus(status)
        changed = 0
        with self._db.write() as conn:
            now = now_us()
            for job_id in dict.fromkeys(job_ids):
                args = (status.value, note, reviewer_id, now, now, job_id)
                changed += conn.execute(SQL_SET_REVIEW, args).rowcount
        return changed

    # ---- retention -------------------------------------------------------------------------

    def purge_candidates(
        self,
        *,
        statuses: tuple[JobStatus, ...],
        finished_before: datetime,
        user_id: str | None = None,
        exclude_review: tuple[ReviewStatus, ...] = (),
        limit: int = 500,
    ) -> list[Job]:
        values = finished_statuses(statuses)
        if not values or limit < 1:
            return []
        where, args = purge_filter(values, finished_before, user_id, exclude_review)
        sql = (
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE {where} "
            "ORDER BY COALESCE(finished_at, created_at), id LIMIT ?"
        )
        args.append(int(limit))
        return [job_from_row(r) for r in self._db.conn.execute(sql, args).fetchall()]

    # ---- stored inputs (issue 11) ----------------------------------------------------------

    def inputs_in_use(self, paths: list[str]) -> set[str]:
        wanted = list(dict.fromkeys(p for p in paths if isinstance(p, str)))
        if not wanted:
            return set()
        marks = sql_marks(wanted)
        sql = (
            f"SELECT input_path AS p FROM jobs WHERE input_path IN ({marks}) "
            f"UNION SELECT mask_path FROM jobs WHERE mask_path IN ({marks}) "
            "UNION SELECT r.value FROM jobs, json_each(jobs.reference_paths) AS r "
            f"WHERE jobs.reference_paths <> '[]' AND r.value IN ({marks})"
        )
        rows = self._db.conn.execute(sql, [*wanted, *wanted, *wanted]).fetchall()
        return {row[0] for row in rows}

    # ---- favourites (issue 12) -------------------------------------------------------------

    def set_starred(self, job_ids: list[str], starred: bool) -> int:
        changed = 0
        with self._db.write() as conn:
            now = now_us()
            for job_id in dict.fromkeys(job_ids):
                if starred:
                    changed += conn.execute(SQL_STAR, (now, job_id)).rowcount
                else:
                    changed += conn.execute(SQL_UNSTAR, (job_id,)).rowcount
        return changed


# ---- helpers ---------------------------------------------------------------------------------


def purge_filter(
    statuses: list[str],
    finished_before: datetime,
    user_id: str | None,
    exclude_review: tuple[ReviewStatus, ...],
) -> tuple[str, list[Any]]:
    """The WHERE conditions and arguments of a purge query (purge_candidates, and the admin
    store's purge_summary, which must count exactly those jobs)."""
    where = f"status IN ({sql_marks(statuses)}) AND COALESCE(finished_at, created_at) < ?"
    args: list[Any] = [*statuses, to_us(finished_before)]
    if user_id is not None:
        where += " AND user_id = ?"
        args.append(user_id)
    excluded = [ReviewStatus(r).value for r in exclude_review]
    if excluded:
        where += f" AND review_status NOT IN ({sql_marks(excluded)})"
        args.extend(excluded)
    return where, args


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _valid_cursor(created_at: object, job_id: object) -> bool:
    """A microsecond timestamp SQLite can bind (a 64-bit integer, not a bool) and an id."""
    return type(created_at) is int and -(2**63) <= created_at < 2**63 and isinstance(job_id, str)
