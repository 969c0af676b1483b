"""The queue half of the local JobStore: claim, leases and their lease-checked outcomes,
positions, depth and named singleton leases. The claim is one `UPDATE … RETURNING` inside a
`BEGIN IMMEDIATE` transaction, so the concurrency cap holds across every thread and process
sharing the SQLite file. Every statement of this module is in the block at the top."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from core.backends.sqlite.db import (
    JOB_COLUMNS,
    Database,
    job_from_row,
    now_us,
    seconds_us,
    sql_marks,
    to_us,
)
from core.domain.models import Job, QueueDepth
from core.domain.policy import WORKER_LOST_AFTER, WORKER_LOST_BEFORE, WORKER_LOST_CODE

# Expired leases whose job has used all its attempts fail instead of running once more.
SQL_FAIL_EXHAUSTED_LEASES = (
    "UPDATE jobs SET status = 'failed', error_code = :code, "
    "error_message = :lost_before || attempts || :lost_after, "
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
    generated_at = NULL,
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
    SELECT COUNT(*) FROM jobs
    WHERE status = 'processing' AND lease_expires_at > :now AND generated_at IS NULL
) < :concurrency
RETURNING {JOB_COLUMNS}
"""
# The provider call has returned: the job leaves the cap's count (its storage step runs on,
# under the same lease, extended here) and the lease is checked in the same statement.
SQL_MARK_GENERATED = (
    "UPDATE jobs SET generated_at = :now, lease_expires_at = :expires, updated_at = :now "
    "WHERE id = :id AND lease_owner = :owner AND status = 'processing'"
)
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
# Only runnable jobs have a place in line (a job waiting to retry has none until its run_after),
# as in supabase-schema.sql's queue_positions.
SQL_QUEUED_AMONG = (
    "SELECT id, created_at FROM jobs WHERE status = 'queued' AND run_after <= ? AND id IN ({marks})"
)
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


class LocalQueue:
    """Queue operations of core.ports.JobStore on SQLite; LocalJobStore adds the rest."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def claim(self, owner: str, lease_seconds: float, concurrency: int) -> Job | None:
        if concurrency < 1:
            return None
        with self._db.write() as conn:
            now = now_us()
            conn.execute(
                SQL_FAIL_EXHAUSTED_LEASES,
                {
                    "now": now,
                    "code": WORKER_LOST_CODE,
                    "lost_before": WORKER_LOST_BEFORE,
                    "lost_after": WORKER_LOST_AFTER,
                },
            )
            row = conn.execute(
                SQL_CLAIM,
                {
                    "owner": owner,
                    "expires": now + seconds_us(lease_seconds),
                    "now": now,
                    "concurrency": concurrency,
                },
            ).fetchone()
        return None if row is None else job_from_row(row)

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

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        positions: dict[str, int] = {}
        with self._db.read() as conn:
            now = now_us()
            sql = SQL_QUEUED_AMONG.format(marks=sql_marks(ids))
            targets = sorted((r["created_at"], r["id"]) for r in conn.execute(sql, [now, *ids]))
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

    def try_acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        now = now_us()
        params = {"name": name, "owner": owner, "expires": now + seconds_us(seconds), "now": now}
        with self._db.write() as conn:
            row = conn.execute(SQL_ACQUIRE_LEASE, params).fetchone()
        return row is not None

    def mark_generated(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        now = now_us()
        expires = now + seconds_us(lease_seconds)
        args = {"now": now, "expires": expires, "id": job_id, "owner": owner}
        return self._db.conn.execute(SQL_MARK_GENERATED, args).rowcount == 1
