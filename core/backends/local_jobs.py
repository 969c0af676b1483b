"""The local JobStore: jobs and the queue in SQLite. Every statement is in this block at the top;
the claim is one `UPDATE … RETURNING` inside a `BEGIN IMMEDIATE` transaction, so the concurrency
cap holds across every thread and process sharing the file."""

from __future__ import annotations

import base64
import binascii
import json
import math
import sqlite3
from datetime import datetime
from typing import Any

from core.backends.local import Database, from_us, now_us, seconds_us, to_us
from core.errors import QuotaExceeded, RateLimited, ValidationError
from core.models import (
    Job,
    JobKind,
    JobPage,
    JobQuery,
    JobStatus,
    NewJob,
    QueueDepth,
    ReviewStatus,
)

WINDOW_US = 60 * 1_000_000
SUBMISSION_LOG_KEEP_US = 2 * 86_400 * 1_000_000
MAX_LIST_LIMIT = 500
LEASE_LOST_CODE = "worker_lost"

JOB_COLUMNS = (
    "id, user_id, provider, model, kind, prompt, params, input_path, status, attempts, "
    "max_attempts, run_after, lease_owner, lease_expires_at, error_code, error_message, "
    "result_path, thumb_path, result_meta, review_status, review_note, reviewed_by, reviewed_at, "
    "batch_id, idempotency_key, created_at, started_at, finished_at, updated_at"
)

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
    "attempts, max_attempts, run_after, batch_id, idempotency_key, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?)"
)
SQL_GET_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"

# Expired leases whose job has used all its attempts fail instead of running once more.
SQL_FAIL_EXHAUSTED_LEASES = (
    "UPDATE jobs SET status = 'failed', error_code = :code, "
    "error_message = 'The worker crashed or timed out repeatedly while generating this image '"
    " || '(' || attempts || ' attempts); giving up.', "
    "lease_owner = NULL, lease_expires_at = NULL, finished_at = :now, updated_at = :now "
    "WHERE status = 'processing' AND lease_expires_at <= :now AND attempts >= max_attempts"
)
# Runnable: queued and due, or processing with an expired lease (its worker is gone).
SQL_CLAIM = f"""
UPDATE jobs SET
    status = 'processing',
    lease_owner = :owner,
    lease_expires_at = :expires,
    attempts = attempts + 1,
    started_at = COALESCE(started_at, :now),
    updated_at = :now
WHERE id = (
    SELECT id FROM (
        SELECT * FROM (
            SELECT id, created_at FROM jobs
            WHERE status = 'queued' AND run_after <= :now
            ORDER BY created_at, id LIMIT 1
        )
        UNION ALL
        SELECT * FROM (
            SELECT id, created_at FROM jobs
            WHERE status = 'processing' AND lease_expires_at <= :now
            ORDER BY created_at, id LIMIT 1
        )
    )
    ORDER BY created_at, id LIMIT 1
)
AND (
    SELECT COUNT(*) FROM jobs WHERE status = 'processing' AND lease_expires_at > :now
) < :concurrency
RETURNING {JOB_COLUMNS}
"""
SQL_HEARTBEAT = (
    "UPDATE jobs SET lease_expires_at = ?, updated_at = ? "
    "WHERE id = ? AND lease_owner = ? AND status = 'processing' RETURNING id"
)
SQL_FINISH = (
    "UPDATE jobs SET status = 'done', result_path = ?, thumb_path = ?, result_meta = ?, "
    "error_code = NULL, error_message = NULL, lease_owner = NULL, lease_expires_at = NULL, "
    "finished_at = ?, updated_at = ? "
    "WHERE id = ? AND lease_owner = ? AND status = 'processing'"
)
SQL_FAIL = (
    "UPDATE jobs SET status = 'failed', error_code = ?, error_message = ?, "
    "lease_owner = NULL, lease_expires_at = NULL, finished_at = ?, updated_at = ? "
    "WHERE id = ? AND lease_owner = ? AND status = 'processing'"
)
SQL_REQUEUE = (
    "UPDATE jobs SET status = 'queued', run_after = ?, error_code = ?, error_message = ?, "
    "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
    "WHERE id = ? AND lease_owner = ? AND status = 'processing'"
)
SQL_RELEASE = (
    "UPDATE jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), run_after = ?, "
    "lease_owner = NULL, lease_expires_at = NULL, updated_at = ? "
    "WHERE id = ? AND lease_owner = ? AND status = 'processing'"
)
SQL_CANCEL = (
    "UPDATE jobs SET status = 'canceled', finished_at = ?, updated_at = ? "
    "WHERE id = ? AND status = 'queued'"
)
SQL_DELETE = "DELETE FROM jobs WHERE id = ? RETURNING batch_id"
SQL_FORGET_EMPTY_BATCH_KEYS = (
    "DELETE FROM idempotency_keys WHERE batch_id = :batch "
    "AND NOT EXISTS (SELECT 1 FROM jobs WHERE batch_id = :batch)"
)
SQL_SET_REVIEW = (
    "UPDATE jobs SET review_status = ?, review_note = ?, reviewed_by = ?, reviewed_at = ?, "
    "updated_at = ? WHERE id = ?"
)
SQL_QUEUED_AMONG = "SELECT id, created_at FROM jobs WHERE status = 'queued' AND id IN ({marks})"
# Runnable queued jobs from one key (inclusive) up to another (exclusive), in claim order.
SQL_RUNNABLE_BETWEEN = (
    "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND run_after <= :now "
    "AND (created_at, id) >= (:from_created, :from_id) AND (created_at, id) < (:created, :id)"
)
SQL_QUEUE_DEPTH = (
    "SELECT "
    "(SELECT COUNT(*) FROM jobs WHERE status = 'queued'), "
    "(SELECT COUNT(*) FROM jobs WHERE status = 'processing'), "
    "(SELECT MIN(created_at) FROM jobs WHERE status = 'queued')"
)
SQL_ACQUIRE_LEASE = (
    "INSERT INTO leases (name, owner, expires_at) VALUES (:name, :owner, :expires) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
    "WHERE leases.owner = excluded.owner OR leases.expires_at <= :now "
    "RETURNING owner"
)


class LocalJobStore:
    """JobStore on SQLite (see core.backends.base.JobStore for the contract)."""

    def __init__(self, db: Database) -> None:
        self._db = db

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
        user_id = jobs[0].user_id
        key = jobs[0].idempotency_key
        batch_id = jobs[0].batch_id
        if any(j.user_id != user_id or j.idempotency_key != key for j in jobs):
            raise ValueError("a batch belongs to one user and carries one idempotency key")
        if any(j.batch_id != batch_id for j in jobs):
            raise ValueError("a batch shares one batch_id")
        count = len(jobs)
        with self._db.write() as conn:
            now = now_us()
            if key is not None:
                row = conn.execute(SQL_FIND_IDEMPOTENT_BATCH, (user_id, key)).fetchone()
                if row is not None:
                    existing = conn.execute(SQL_BATCH_JOBS, (row["batch_id"],)).fetchall()
                    if existing:
                        return [_job(r) for r in existing]
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
                    ),
                )
            rows = conn.execute(SQL_BATCH_JOBS, (batch_id,)).fetchall()
        return [_job(r) for r in rows]

    @staticmethod
    def _check_rate_limit(
        conn: sqlite3.Connection, user_id: str, count: int, limit: int, now: int
    ) -> None:
        since = now - WINDOW_US
        used = conn.execute(SQL_SUBMITTED_AFTER, (user_id, since)).fetchone()[0]
        if used + count <= limit:
            return
        recent = conn.execute(SQL_RECENT_SUBMISSIONS, (user_id, since)).fetchall()
        message = f"You can submit {limit} images a minute."
        if count > limit:
            raise RateLimited(f"{message} Submit fewer at once.", retry_after=60)
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
        wait = max(1, wait)
        raise RateLimited(f"{message} Try again in {wait} s.", retry_after=wait)

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
            raise QuotaExceeded(
                f"Your daily limit is {quota} images and {left} are left today. "
                f"It resets at midnight UTC.",
                retry_after=wait,
            )

    # ---- reading ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        row = self._db.conn.execute(SQL_GET_JOB, (job_id,)).fetchone()
        return None if row is None else _job(row)

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
        ):
            if values:
                where.append(f"{column} IN ({_marks(values)})")
                args.extend(values)
        if query.text:
            where.append("casefold(prompt) LIKE ? ESCAPE '\\'")
            args.append(f"%{_escape_like(query.text.casefold())}%")
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
            created, last_id = _decode_cursor(query.cursor)
            where.append(f"(created_at {op} ? OR (created_at = ? AND id {op} ?))")
            args.extend([created, created, last_id])
        limit = max(1, min(int(query.limit), MAX_LIST_LIMIT))
        sql = f"SELECT {JOB_COLUMNS} FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY created_at {order}, id {order} LIMIT ?"
        rows = self._db.conn.execute(sql, [*args, limit + 1]).fetchall()
        items = [_job(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = _encode_cursor(last["created_at"], last["id"])
        return JobPage(items=items, next_cursor=next_cursor)

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        positions: dict[str, int] = {}
        with self._db.read() as conn:
            now = now_us()
            sql = SQL_QUEUED_AMONG.format(marks=_marks(ids))
            targets = sorted((r["created_at"], r["id"]) for r in conn.execute(sql, ids))
            # Walk the queue once: count the runnable jobs between consecutive targets.
            ahead, start = 0, (-1, "")
            for created, job_id in targets:
                ahead += conn.execute(
                    SQL_RUNNABLE_BETWEEN,
                    {
                        "now": now,
                        "from_created": start[0],
                        "from_id": start[1],
                        "created": created,
                        "id": job_id,
                    },
                ).fetchone()[0]
                positions[job_id] = ahead + 1
                start = (created, job_id)
        return positions

    def queue_depth(self) -> QueueDepth:
        queued, processing, oldest = self._db.conn.execute(SQL_QUEUE_DEPTH).fetchone()
        age = None if oldest is None else max(0.0, (now_us() - oldest) / 1_000_000)
        return QueueDepth(queued=queued, processing=processing, oldest_queued_seconds=age)

    # ---- the queue -------------------------------------------------------------------------

    def claim(self, owner: str, lease_seconds: float, concurrency: int) -> Job | None:
        if concurrency < 1:
            return None
        with self._db.write() as conn:
            now = now_us()
            conn.execute(SQL_FAIL_EXHAUSTED_LEASES, {"now": now, "code": LEASE_LOST_CODE})
            row = conn.execute(
                SQL_CLAIM,
                {
                    "owner": owner,
                    "expires": now + seconds_us(lease_seconds),
                    "now": now,
                    "concurrency": concurrency,
                },
            ).fetchone()
        return None if row is None else _job(row)

    def heartbeat(self, job_ids: list[str], owner: str, lease_seconds: float) -> set[str]:
        held: set[str] = set()
        with self._db.write() as conn:
            now = now_us()
            expires = now + seconds_us(lease_seconds)
            for job_id in dict.fromkeys(job_ids):
                if conn.execute(SQL_HEARTBEAT, (expires, now, job_id, owner)).fetchone():
                    held.add(job_id)
        return held

    def finish(
        self,
        job_id: str,
        owner: str,
        *,
        result_path: str,
        thumb_path: str | None,
        result_meta: dict[str, Any],
    ) -> bool:
        now = now_us()
        meta = json.dumps(result_meta or {})
        args = (result_path, thumb_path, meta, now, now, job_id, owner)
        return self._db.conn.execute(SQL_FINISH, args).rowcount == 1

    def fail(self, job_id: str, owner: str, *, error_code: str, error_message: str) -> bool:
        now = now_us()
        args = (error_code, error_message, now, now, job_id, owner)
        return self._db.conn.execute(SQL_FAIL, args).rowcount == 1

    def requeue(
        self,
        job_id: str,
        owner: str,
        *,
        run_after: datetime,
        error_code: str,
        error_message: str,
    ) -> bool:
        args = (to_us(run_after), error_code, error_message, now_us(), job_id, owner)
        return self._db.conn.execute(SQL_REQUEUE, args).rowcount == 1

    def release(self, job_ids: list[str], owner: str) -> int:
        released = 0
        with self._db.write() as conn:
            now = now_us()
            for job_id in dict.fromkeys(job_ids):
                released += conn.execute(SQL_RELEASE, (now, now, job_id, owner)).rowcount
        return released

    def cancel(self, job_id: str) -> bool:
        now = now_us()
        return self._db.conn.execute(SQL_CANCEL, (now, now, job_id)).rowcount == 1

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

    # ---- retention and singletons ----------------------------------------------------------

    def purge_candidates(
        self,
        *,
        statuses: tuple[JobStatus, ...],
        finished_before: datetime,
        user_id: str | None = None,
        exclude_review: tuple[ReviewStatus, ...] = (),
        limit: int = 500,
    ) -> list[Job]:
        values = [JobStatus(s).value for s in statuses]
        if not values or limit < 1:
            return []
        if any(not JobStatus(v).finished for v in values):
            raise ValueError("only finished jobs (done, failed, canceled) can be purged")
        sql = (
            f"SELECT {JOB_COLUMNS} FROM jobs WHERE status IN ({_marks(values)}) "
            "AND COALESCE(finished_at, created_at) < ?"
        )
        args: list[Any] = [*values, to_us(finished_before)]
        if user_id is not None:
            sql += " AND user_id = ?"
            args.append(user_id)
        excluded = [ReviewStatus(r).value for r in exclude_review]
        if excluded:
            sql += f" AND review_status NOT IN ({_marks(excluded)})"
            args.extend(excluded)
        sql += " ORDER BY COALESCE(finished_at, created_at), id LIMIT ?"
        args.append(int(limit))
        return [_job(r) for r in self._db.conn.execute(sql, args).fetchall()]

    def try_acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        now = now_us()
        params = {"name": name, "owner": owner, "expires": now + seconds_us(seconds), "now": now}
        with self._db.write() as conn:
            row = conn.execute(SQL_ACQUIRE_LEASE, params).fetchone()
        return row is not None


# ---- helpers ---------------------------------------------------------------------------------


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        provider=row["provider"],
        model=row["model"],
        kind=JobKind(row["kind"]),
        prompt=row["prompt"],
        params=json.loads(row["params"] or "{}"),
        status=JobStatus(row["status"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
        run_after=from_us(row["run_after"]),
        batch_id=row["batch_id"],
        input_path=row["input_path"],
        lease_owner=row["lease_owner"],
        lease_expires_at=from_us(row["lease_expires_at"]),
        error_code=row["error_code"],
        error_message=row["error_message"],
        result_path=row["result_path"],
        thumb_path=row["thumb_path"],
        result_meta=json.loads(row["result_meta"] or "{}"),
        review_status=ReviewStatus(row["review_status"]),
        review_note=row["review_note"],
        reviewed_by=row["reviewed_by"],
        reviewed_at=from_us(row["reviewed_at"]),
        idempotency_key=row["idempotency_key"],
        started_at=from_us(row["started_at"]),
        finished_at=from_us(row["finished_at"]),
    )


def _marks(values: list[Any]) -> str:
    return ", ".join("?" * len(values))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(created_at: int, job_id: str) -> str:
    raw = json.dumps([created_at, job_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created_at, job_id = json.loads(raw)
        if not isinstance(created_at, int) or not isinstance(job_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError("This page link is not valid; start from the first page.") from None
    return created_at, job_id
