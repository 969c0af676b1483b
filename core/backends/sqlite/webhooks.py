"""The local WebhookStore on SQLite: endpoints, the job event log (written by triggers on
`jobs`, migration 007, so it commits with the state change) and the deliveries fanned out from
it. Every statement of this module is in the block at the top."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime

from core.backends.sqlite.db import (
    JOB_COLUMNS,
    Database,
    from_us,
    job_from_row,
    now_us,
    seconds_us,
    to_us,
)
from core.domain.errors import ValidationError
from core.domain.models import JobStatus
from core.domain.webhooks import (
    DeliveryStatus,
    JobEvent,
    WebhookDelivery,
    WebhookEndpoint,
    derive_secret,
    event_body,
    event_for,
    job_document,
    new_message_id,
    new_salt,
)

CURSOR = "fan_out"
# Events older than this, and already fanned out, are pruned (event streams resume within it).
EVENT_KEEP_US = 24 * 3600 * 1_000_000
MAX_LIST = 200

ENDPOINT_COLUMNS = "id, user_id, url, events, salt, created_at, disabled_at, disabled_reason"
DELIVERY_COLUMNS = (
    "id, user_id, endpoint_id, url, salt, event, job_id, payload, status, attempts, created_at, "
    "next_attempt_at, last_status_code, last_error, delivered_at"
)
SQL_COUNT_ENDPOINTS = "SELECT COUNT(*) FROM webhook_endpoints WHERE user_id = ?"
SQL_INSERT_ENDPOINT = (
    "INSERT INTO webhook_endpoints (id, user_id, url, events, salt, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?)"
)
SQL_LIST_ENDPOINTS = (
    f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE user_id = ? ORDER BY created_at, id"
)
SQL_GET_ENDPOINT = f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?"
SQL_DELETE_ENDPOINT = "DELETE FROM webhook_endpoints WHERE id = ? AND user_id = ?"
SQL_ENDPOINT_GONE = (
    "UPDATE webhook_deliveries SET status = 'gone', lease_owner = NULL, lease_expires_at = NULL "
    "WHERE endpoint_id = ? AND status = 'pending'"
)
SQL_DISABLE_ENDPOINT = (
    "UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ? "
    "WHERE id = ? AND disabled_at IS NULL"
)
SQL_GET_ACCOUNT_SALT = "SELECT salt FROM webhook_account_secrets WHERE user_id = ?"
SQL_SET_ACCOUNT_SALT = (
    "INSERT INTO webhook_account_secrets (user_id, salt, created_at) VALUES (?, ?, ?) "
    "ON CONFLICT (user_id) DO UPDATE SET salt = excluded.salt, created_at = excluded.created_at"
)
SQL_ATTACH_JOB_URL = (
    "INSERT OR REPLACE INTO job_webhooks (job_id, user_id, url, created_at) VALUES (?, ?, ?, ?)"
)
SQL_CURSOR = "SELECT seq FROM webhook_cursor WHERE name = ?"
SQL_SET_CURSOR = (
    "INSERT INTO webhook_cursor (name, seq) VALUES (?, ?) "
    "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq"
)
SQL_EVENTS_AFTER_ALL = (
    "SELECT seq, job_id, user_id, status, created_at FROM job_events WHERE seq > ? "
    "ORDER BY seq LIMIT ?"
)
SQL_EVENT_JOB = f"SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"
SQL_EVENT_ENDPOINTS = (
    "SELECT id, url, events, salt, created_at FROM webhook_endpoints "
    "WHERE user_id = ? AND disabled_at IS NULL ORDER BY created_at, id"
)
SQL_JOB_URL = "SELECT url FROM job_webhooks WHERE job_id = ?"
SQL_INSERT_DELIVERY = (
    "INSERT OR IGNORE INTO webhook_deliveries (id, user_id, endpoint_id, target, url, salt, "
    "event_seq, event, job_id, payload, status, attempts, next_attempt_at, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)"
)
SQL_PRUNE_EVENTS = "DELETE FROM job_events WHERE seq <= ? AND created_at < ?"
SQL_PRUNE_JOB_URLS = (
    "DELETE FROM job_webhooks WHERE created_at < ? "
    "AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id = job_webhooks.job_id)"
)
SQL_HAS_NEW_EVENTS = (
    "SELECT EXISTS (SELECT 1 FROM job_events WHERE seq > "
    "COALESCE((SELECT seq FROM webhook_cursor WHERE name = ?), 0))"
)
SQL_HAS_DUE = (
    "SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status = 'pending' "
    "AND next_attempt_at <= ? AND (lease_expires_at IS NULL OR lease_expires_at <= ?))"
)
SQL_CLAIM = (
    "UPDATE webhook_deliveries SET lease_owner = :owner, lease_expires_at = :until, "
    "attempts = attempts + 1 "
    "WHERE id IN (SELECT id FROM webhook_deliveries WHERE status = 'pending' "
    "AND next_attempt_at <= :now AND (lease_expires_at IS NULL OR lease_expires_at <= :now) "
    "ORDER BY next_attempt_at, created_at LIMIT :limit) "
    f"RETURNING {DELIVERY_COLUMNS}"
)
SQL_RECORD = (
    "UPDATE webhook_deliveries SET status = :status, next_attempt_at = :next, "
    "lease_owner = NULL, lease_expires_at = NULL, last_status_code = :code, last_error = :error, "
    "delivered_at = :delivered WHERE id = :id AND lease_owner = :owner AND status = 'pending' "
    "RETURNING endpoint_id"
)
SQL_LIST_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE user_id = ? "
    "ORDER BY created_at DESC, id DESC LIMIT ?"
)
SQL_LIST_ENDPOINT_DELIVERIES = (
    f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE user_id = ? AND endpoint_id = ? "
    "ORDER BY created_at DESC, id DESC LIMIT ?"
)
SQL_GET_DELIVERY = f"SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?"
SQL_RESEND = (
    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?, "
    "lease_owner = NULL, lease_expires_at = NULL, delivered_at = NULL "
    "WHERE id = ? AND user_id = ? AND (endpoint_id IS NULL OR endpoint_id IN "
    "(SELECT id FROM webhook_endpoints WHERE disabled_at IS NULL))"
)
SQL_USER_EVENTS = (
    "SELECT seq, job_id, user_id, status, created_at FROM job_events "
    "WHERE user_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
SQL_JOB_EVENTS = (
    "SELECT seq, job_id, user_id, status, created_at FROM job_events "
    "WHERE user_id = ? AND job_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
SQL_LAST_USER_EVENT = "SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE user_id = ?"
SQL_LAST_JOB_EVENT = "SELECT COALESCE(MAX(seq), 0) FROM job_events WHERE user_id = ? AND job_id = ?"


class LocalWebhookStore:
    """WebhookStore on SQLite (see core.ports.WebhookStore for the contract)."""

    def __init__(self, db: Database, server_key: bytes) -> None:
        self.db = db
        self._key = server_key

    def secret(self, salt: str) -> str:
        return derive_secret(self._key, salt)

    # ---- endpoints -------------------------------------------------------------------------

    def create_endpoint(
        self, user_id: str, url: str, events: tuple[str, ...], *, max_per_user: int
    ) -> WebhookEndpoint:
        endpoint_id = str(uuid.uuid4())
        with self.db.write() as conn:
            if conn.execute(SQL_COUNT_ENDPOINTS, (user_id,)).fetchone()[0] >= max_per_user:
                raise ValidationError(
                    f"You have {max_per_user} webhook endpoints already; delete one first.",
                    reason="webhook_endpoints_full",
                    params={"max": max_per_user},
                )
            conn.execute(
                SQL_INSERT_ENDPOINT,
                (endpoint_id, user_id, url, ",".join(events), new_salt(), now_us()),
            )
            row = conn.execute(SQL_GET_ENDPOINT, (endpoint_id,)).fetchone()
        return _endpoint(row)

    def list_endpoints(self, user_id: str) -> list[WebhookEndpoint]:
        return [_endpoint(r) for r in self.db.conn.execute(SQL_LIST_ENDPOINTS, (user_id,))]

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        row = self.db.conn.execute(SQL_GET_ENDPOINT, (endpoint_id,)).fetchone()
        return None if row is None else _endpoint(row)

    def delete_endpoint(self, user_id: str, endpoint_id: str) -> bool:
        with self.db.write() as conn:
            if not conn.execute(SQL_DELETE_ENDPOINT, (endpoint_id, user_id)).rowcount:
                return False
            conn.execute(SQL_ENDPOINT_GONE, (endpoint_id,))
        return True

    def account_salt(self, user_id: str, *, rotate: bool = False) -> str | None:
        if not rotate:
            row = self.db.conn.execute(SQL_GET_ACCOUNT_SALT, (user_id,)).fetchone()
            return None if row is None else str(row[0])
        salt = new_salt()
        with self.db.write() as conn:
            conn.execute(SQL_SET_ACCOUNT_SALT, (user_id, salt, now_us()))
        return salt

    def attach_job_urls(self, user_id: str, job_ids: list[str], url: str) -> None:
        now = now_us()
        with self.db.write() as conn:
            conn.executemany(SQL_ATTACH_JOB_URL, [(j, user_id, url, now) for j in job_ids])

    # ---- the outbox -> deliveries ----------------------------------------------------------

    def fan_out(self, limit: int = 200) -> int:
        # A read first: an idle dispatcher never takes the writer lock the queue needs.
        if not self.db.conn.execute(SQL_HAS_NEW_EVENTS, (CURSOR,)).fetchone()[0]:
            return 0
        with self.db.write() as conn:
            row = conn.execute(SQL_CURSOR, (CURSOR,)).fetchone()
            cursor = 0 if row is None else int(row[0])
            events = conn.execute(SQL_EVENTS_AFTER_ALL, (cursor, limit)).fetchall()
            if not events:
                return 0
            now = now_us()
            endpoints: dict[str, list[sqlite3.Row]] = {}
            account_salts: dict[str, str | None] = {}
            for event in events:
                self._fan_out_one(conn, event, now, endpoints, account_salts)
            last = int(events[-1]["seq"])
            conn.execute(SQL_SET_CURSOR, (CURSOR, last))
            conn.execute(SQL_PRUNE_EVENTS, (last, now - EVENT_KEEP_US))
            conn.execute(SQL_PRUNE_JOB_URLS, (now - EVENT_KEEP_US,))
        return len(events)

    def _fan_out_one(
        self,
        conn: sqlite3.Connection,
        event: sqlite3.Row,
        now: int,
        endpoints: dict[str, list[sqlite3.Row]],
        account_salts: dict[str, str | None],
    ) -> None:
        user_id = event["user_id"]
        status = JobStatus(event["status"])
        name = event_for(status)
        if user_id not in endpoints:
            endpoints[user_id] = conn.execute(SQL_EVENT_ENDPOINTS, (user_id,)).fetchall()
        targets: list[tuple[str | None, str, str, str]] = [
            (e["id"], e["id"], e["url"], e["salt"])
            for e in endpoints[user_id]
            # an endpoint gets the events that happened after it was added
            if name in e["events"].split(",") and e["created_at"] <= event["created_at"]
        ]
        job_url = conn.execute(SQL_JOB_URL, (event["job_id"],)).fetchone()
        if job_url is not None:
            if user_id not in account_salts:
                salt_row = conn.execute(SQL_GET_ACCOUNT_SALT, (user_id,)).fetchone()
                account_salts[user_id] = None if salt_row is None else salt_row[0]
            salt = account_salts[user_id]
            if salt is not None:
                targets.append((None, "job", job_url[0], salt))
        if not targets:
            return
        job_row = conn.execute(SQL_EVENT_JOB, (event["job_id"],)).fetchone()
        data = (
            job_document(job_from_row(job_row), status)
            if job_row is not None
            else {"id": event["job_id"], "status": str(status)}
        )
        body = event_body(name, from_us(event["created_at"]), data)
        for endpoint_id, target, url, salt in targets:
            conn.execute(
                SQL_INSERT_DELIVERY,
                (
                    new_message_id(),
                    user_id,
                    endpoint_id,
                    target,
                    url,
                    salt,
                    event["seq"],
                    name,
                    event["job_id"],
                    body,
                    now,
                    now,
                ),
            )

    # ---- deliveries ------------------------------------------------------------------------

    def claim_deliveries(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[WebhookDelivery]:
        now = now_us()
        if limit <= 0 or not self.db.conn.execute(SQL_HAS_DUE, (now, now)).fetchone()[0]:
            return []
        with self.db.write() as conn:
            rows = conn.execute(
                SQL_CLAIM,
                {
                    "owner": owner,
                    "until": now + seconds_us(lease_seconds),
                    "now": now,
                    "limit": limit,
                },
            ).fetchall()
        return [_delivery(r) for r in rows]

    def record_attempt(
        self,
        delivery_id: str,
        owner: str,
        *,
        status_code: int | None,
        error: str | None,
        outcome: DeliveryStatus,
        next_attempt_at: datetime | None = None,
    ) -> bool:
        now = now_us()
        params = {
            "status": str(outcome),
            "next": to_us(next_attempt_at) if next_attempt_at is not None else now,
            "code": status_code,
            "error": (error or None) and error[:300],
            "delivered": now if outcome is DeliveryStatus.DELIVERED else None,
            "id": delivery_id,
            "owner": owner,
        }
        with self.db.write() as conn:
            row = conn.execute(SQL_RECORD, params).fetchone()
            if row is None:
                return False
            if outcome is DeliveryStatus.GONE and row["endpoint_id"] is not None:
                conn.execute(SQL_DISABLE_ENDPOINT, (now, "The endpoint answered 410 Gone.", row[0]))
                conn.execute(SQL_ENDPOINT_GONE, (row[0],))
        return True

    def list_deliveries(
        self, user_id: str, *, endpoint_id: str | None = None, limit: int = 50
    ) -> list[WebhookDelivery]:
        limit = max(1, min(limit, MAX_LIST))
        if endpoint_id is None:
            rows = self.db.conn.execute(SQL_LIST_DELIVERIES, (user_id, limit))
        else:
            rows = self.db.conn.execute(SQL_LIST_ENDPOINT_DELIVERIES, (user_id, endpoint_id, limit))
        return [_delivery(r) for r in rows]

    def get_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        row = self.db.conn.execute(SQL_GET_DELIVERY, (delivery_id,)).fetchone()
        return None if row is None else _delivery(row)

    def resend(self, user_id: str, delivery_id: str) -> bool:
        with self.db.write() as conn:
            return bool(conn.execute(SQL_RESEND, (now_us(), delivery_id, user_id)).rowcount)

    # ---- the event log (event streams) ----------------------------------------------------

    def events_after(
        self, user_id: str, after_seq: int, *, job_id: str | None = None, limit: int = 100
    ) -> list[JobEvent]:
        if job_id is None:
            rows = self.db.conn.execute(SQL_USER_EVENTS, (user_id, after_seq, limit))
        else:
            rows = self.db.conn.execute(SQL_JOB_EVENTS, (user_id, job_id, after_seq, limit))
        return [
            JobEvent(
                seq=r["seq"],
                job_id=r["job_id"],
                user_id=r["user_id"],
                status=JobStatus(r["status"]),
                created_at=from_us(r["created_at"]),
            )
            for r in rows
        ]

    def last_event_seq(self, user_id: str, *, job_id: str | None = None) -> int:
        if job_id is None:
            row = self.db.conn.execute(SQL_LAST_USER_EVENT, (user_id,)).fetchone()
        else:
            row = self.db.conn.execute(SQL_LAST_JOB_EVENT, (user_id, job_id)).fetchone()
        return int(row[0])


def _endpoint(row: sqlite3.Row) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=row["id"],
        user_id=row["user_id"],
        url=row["url"],
        events=tuple(e for e in row["events"].split(",") if e),
        created_at=from_us(row["created_at"]),
        salt=row["salt"],
        disabled_at=from_us(row["disabled_at"]),
        disabled_reason=row["disabled_reason"],
    )


def _delivery(row: sqlite3.Row) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        user_id=row["user_id"],
        endpoint_id=row["endpoint_id"],
        url=row["url"],
        event=row["event"],
        job_id=row["job_id"],
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        created_at=from_us(row["created_at"]),
        next_attempt_at=from_us(row["next_attempt_at"]),
        salt=row["salt"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        delivered_at=from_us(row["delivered_at"]),
    )
