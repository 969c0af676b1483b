"""The Supabase WebhookStore (service role only): endpoints, per-job URLs and the delivery log
through PostgREST; the outbox's fan-out, claims (FOR UPDATE SKIP LOCKED) and settling through
the SQL functions of supabase-schema.sql ("push, not poll")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from postgrest.exceptions import APIError
from supabase import Client

from core.backends.supabase.client import call_rpc, parse_time, raise_api_error
from core.domain.errors import ValidationError
from core.domain.models import JobStatus, is_uuid
from core.domain.webhooks import (
    DeliveryStatus,
    JobEvent,
    WebhookDelivery,
    WebhookEndpoint,
    derive_secret,
    new_salt,
)

MAX_LIST = 200
ENDPOINT_COLUMNS = "id,user_id,url,events,salt,created_at,disabled_at,disabled_reason"
DELIVERY_COLUMNS = (
    "id,user_id,endpoint_id,url,salt,event,job_id,payload,status,attempts,created_at,"
    "next_attempt_at,last_status_code,last_error,delivered_at"
)
EVENT_COLUMNS = "seq,job_id,user_id,status,created_at"


class SupabaseWebhookStore:
    """WebhookStore over PostgREST with the server's client (see core.ports.WebhookStore)."""

    def __init__(self, client: Client, server_key: bytes) -> None:
        self._db = client
        self._key = server_key

    def secret(self, salt: str) -> str:
        return derive_secret(self._key, salt)

    def _rows(self, query: Any) -> list[dict[str, Any]]:
        try:
            return list(query.execute().data or [])
        except APIError as exc:
            raise_api_error(exc)

    # ---- endpoints -------------------------------------------------------------------------

    def create_endpoint(
        self, user_id: str, url: str, events: tuple[str, ...], *, max_per_user: int
    ) -> WebhookEndpoint:
        have = self._rows(self._db.table("webhook_endpoints").select("id").eq("user_id", user_id))
        if len(have) >= max_per_user:
            raise ValidationError(
                f"You have {max_per_user} webhook endpoints already; delete one first.",
                reason="webhook_endpoints_full",
                params={"max": max_per_user},
            )
        row = {"user_id": user_id, "url": url, "events": list(events), "salt": new_salt()}
        [created] = self._rows(self._db.table("webhook_endpoints").insert(row))
        return _endpoint(created)

    def list_endpoints(self, user_id: str) -> list[WebhookEndpoint]:
        rows = self._rows(
            self._db.table("webhook_endpoints")
            .select(ENDPOINT_COLUMNS)
            .eq("user_id", user_id)
            .order("created_at")
        )
        return [_endpoint(r) for r in rows]

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None:
        if not is_uuid(endpoint_id):
            return None
        rows = self._rows(
            self._db.table("webhook_endpoints").select(ENDPOINT_COLUMNS).eq("id", endpoint_id)
        )
        return _endpoint(rows[0]) if rows else None

    def delete_endpoint(self, user_id: str, endpoint_id: str) -> bool:
        if not is_uuid(endpoint_id):
            return False
        gone = self._rows(
            self._db.table("webhook_endpoints")
            .delete()
            .eq("id", endpoint_id)
            .eq("user_id", user_id)
        )
        if not gone:
            return False
        self._rows(
            self._db.table("webhook_deliveries")
            .update({"status": "gone", "lease_owner": None, "lease_expires_at": None})
            .eq("endpoint_id", endpoint_id)
            .eq("status", "pending")
        )
        return True

    def account_salt(self, user_id: str, *, rotate: bool = False) -> str | None:
        table = self._db.table("webhook_account_secrets")
        if rotate:
            salt = new_salt()
            self._rows(table.upsert({"user_id": user_id, "salt": salt}, on_conflict="user_id"))
            return salt
        rows = self._rows(table.select("salt").eq("user_id", user_id))
        return str(rows[0]["salt"]) if rows else None

    def attach_job_urls(self, user_id: str, job_ids: list[str], url: str) -> None:
        rows = [{"job_id": j, "user_id": user_id, "url": url} for j in job_ids]
        self._rows(self._db.table("job_webhooks").upsert(rows, on_conflict="job_id"))

    # ---- the outbox -> deliveries ----------------------------------------------------------

    def fan_out(self, limit: int = 200) -> int:
        return int(call_rpc(self._db, "webhook_fan_out", {"p_limit": limit}) or 0)

    def claim_deliveries(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[WebhookDelivery]:
        if limit <= 0:
            return []
        rows = call_rpc(
            self._db,
            "claim_webhook_deliveries",
            {"p_owner": owner, "p_lease_seconds": lease_seconds, "p_limit": limit},
        )
        return [_delivery(r) for r in rows or []]

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
        return bool(
            call_rpc(
                self._db,
                "record_webhook_attempt",
                {
                    "p_id": delivery_id,
                    "p_owner": owner,
                    "p_status": str(outcome),
                    "p_next": None if next_attempt_at is None else next_attempt_at.isoformat(),
                    "p_code": status_code,
                    "p_error": error,
                },
            )
        )

    def list_deliveries(
        self, user_id: str, *, endpoint_id: str | None = None, limit: int = 50
    ) -> list[WebhookDelivery]:
        query = self._db.table("webhook_deliveries").select(DELIVERY_COLUMNS).eq("user_id", user_id)
        if endpoint_id is not None:
            if not is_uuid(endpoint_id):
                return []
            query = query.eq("endpoint_id", endpoint_id)
        rows = self._rows(
            query.order("created_at", desc=True)
            .order("id", desc=True)
            .limit(max(1, min(limit, MAX_LIST)))
        )
        return [_delivery(r) for r in rows]

    def get_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        rows = self._rows(
            self._db.table("webhook_deliveries").select(DELIVERY_COLUMNS).eq("id", delivery_id)
        )
        return _delivery(rows[0]) if rows else None

    def resend(self, user_id: str, delivery_id: str) -> bool:
        delivery = self.get_delivery(delivery_id)
        if delivery is None or delivery.user_id != user_id:
            return False
        if delivery.endpoint_id is not None:
            endpoint = self.get_endpoint(delivery.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return False
        rows = self._rows(
            self._db.table("webhook_deliveries")
            .update(
                {
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": "now",  # the database's clock, as claims use
                    "lease_owner": None,
                    "lease_expires_at": None,
                    "delivered_at": None,
                }
            )
            .eq("id", delivery_id)
            .eq("user_id", user_id)
        )
        return bool(rows)

    # ---- the event log ---------------------------------------------------------------------

    def events_after(
        self, user_id: str, after_seq: int, *, job_id: str | None = None, limit: int = 100
    ) -> list[JobEvent]:
        query = (
            self._db.table("job_events")
            .select(EVENT_COLUMNS)
            .eq("user_id", user_id)
            .gt("seq", after_seq)
        )
        if job_id is not None:
            if not is_uuid(job_id):
                return []
            query = query.eq("job_id", job_id)
        rows = self._rows(query.order("seq").limit(limit))
        return [
            JobEvent(
                seq=int(r["seq"]),
                job_id=str(r["job_id"]),
                user_id=str(r["user_id"]),
                status=JobStatus(r["status"]),
                created_at=_time(r["created_at"]),
            )
            for r in rows
        ]

    def last_event_seq(self, user_id: str, *, job_id: str | None = None) -> int:
        query = self._db.table("job_events").select("seq").eq("user_id", user_id)
        if job_id is not None:
            if not is_uuid(job_id):
                return 0
            query = query.eq("job_id", job_id)
        rows = self._rows(query.order("seq", desc=True).limit(1))
        return int(rows[0]["seq"]) if rows else 0


def _time(value: str) -> datetime:
    parsed = parse_time(value)
    assert parsed is not None
    return parsed


def _endpoint(row: dict[str, Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=str(row["id"]),
        user_id=str(row["user_id"]),
        url=row["url"],
        events=tuple(row["events"] or ()),
        created_at=_time(row["created_at"]),
        salt=row["salt"],
        disabled_at=parse_time(row.get("disabled_at")),
        disabled_reason=row.get("disabled_reason"),
    )


def _delivery(row: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"],
        user_id=str(row["user_id"]),
        endpoint_id=None if row.get("endpoint_id") is None else str(row["endpoint_id"]),
        url=row["url"],
        event=row["event"],
        job_id=str(row["job_id"]),
        payload=row["payload"],
        status=DeliveryStatus(row["status"]),
        attempts=int(row["attempts"]),
        created_at=_time(row["created_at"]),
        next_attempt_at=_time(row["next_attempt_at"]),
        salt=row["salt"],
        last_status_code=row.get("last_status_code"),
        last_error=row.get("last_error"),
        delivered_at=parse_time(row.get("delivered_at")),
    )
