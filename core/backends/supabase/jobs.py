"""The Supabase JobStore and AdminStore: each method is one PostgREST or RPC call to the
functions of `supabase-schema.sql`, where the queue logic lives (claim with SKIP LOCKED and the
global cap, lease-checked finishing, rate limit, idempotency)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from postgrest.exceptions import APIError
from supabase import Client

from core.backends.common import check_batch, decode_cursor, encode_cursor, finished_statuses
from core.backends.supabase.client import call_rpc, job_from_row, parse_time, raise_api_error
from core.domain.models import (
    Job,
    JobKind,
    JobPage,
    JobQuery,
    JobStatus,
    NewJob,
    QueueDepth,
    ReviewStatus,
    is_uuid,
)

MAX_LIST_LIMIT = 500


class SupabaseJobStore:
    """JobStore over PostgREST (see core.ports.JobStore for the contract).

    A user's store (`client` carries their JWT) deletes rows with the server's client, since
    users have no DELETE on jobs (a row deleted before its files would orphan them): pass
    `server` and `owner_id` (None for an admin, who may delete anyone's jobs).

    A user's store submits through `submit_jobs`, which takes the daily quota from the server's
    settings in SQL (the profile's override, else app_config.daily_quota, which
    `publish_config` writes from DAILY_QUOTA): the same rule as
    `core.services.access.effective_quota`, and a user's JWT cannot name another. The server's
    store passes the quota it computed to `submit_jobs_with_quota`, which only the service role
    may call."""

    def __init__(
        self, client: Client, *, server: Client | None = None, owner_id: str | None = None
    ) -> None:
        self._client = client
        self._server = server or client
        self._owner_id = owner_id
        self._is_server = self._server is client

    def _rpc(self, fn: str, params: dict[str, Any]) -> Any:
        return call_rpc(self._client, fn, params)

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
        payload = [
            {
                "id": j.id,
                "user_id": j.user_id,
                "provider": j.request.provider,
                "model": j.request.model,
                "kind": JobKind(j.request.kind).value,
                "prompt": j.request.prompt,
                "params": _with_lineage(j),
                "input_path": j.request.input_path,
                "batch_id": j.batch_id,
                "max_attempts": j.max_attempts,
                "idempotency_key": j.idempotency_key,
            }
            for j in jobs
        ]
        if self._is_server:
            rows = self._rpc(
                "submit_jobs_with_quota",
                {
                    "p_jobs": payload,
                    "p_rate_limit": rate_limit_per_minute,
                    "p_daily_quota": daily_quota,
                },
            )
        else:
            # the quota is the server's setting, read in SQL: a user's call cannot carry one
            rows = self._rpc(
                "submit_jobs", {"p_jobs": payload, "p_rate_limit": rate_limit_per_minute}
            )
        return sorted((job_from_row(r) for r in rows), key=lambda j: (j.created_at, j.id))

    # ---- reading ---------------------------------------------------------------------------

    def get_job(self, job_id: str) -> Job | None:
        if not is_uuid(job_id):
            return None
        # get_job applies the select policy's rules and hides the reviewer's identity from
        # owners (they cannot select those columns)
        rows = self._rpc("get_job", {"p_id": job_id})
        return job_from_row(rows[0]) if rows else None

    def list_jobs(self, query: JobQuery) -> JobPage:
        limit = max(1, min(int(query.limit), MAX_LIST_LIMIT))
        cursor_at, cursor_id = (
            decode_cursor(query.cursor, _valid_cursor) if query.cursor else (None, None)
        )
        kinds = [JobKind(k).value for k in query.kinds]
        # the kind filter is its own function (supabase-schema.sql, "edit and iterate"), and so
        # is the favourites filter, which takes the kinds too ("favourites")
        if query.starred:
            fn, extra = "list_starred_jobs", {"p_kinds": kinds}
        elif kinds:
            fn, extra = "list_jobs_of_kinds", {"p_kinds": kinds}
        else:
            fn, extra = "list_jobs", {}
        rows = self._rpc(
            fn,
            extra
            | {
                "p_user_id": query.user_id,
                "p_statuses": [JobStatus(s).value for s in query.statuses],
                "p_providers": list(query.providers),
                "p_models": list(query.models),
                "p_review_statuses": [ReviewStatus(s).value for s in query.review_statuses],
                "p_text": query.text or None,
                "p_batch_id": query.batch_id,
                "p_created_after": iso(query.created_after),
                "p_created_before": iso(query.created_before),
                "p_oldest_first": bool(query.oldest_first),
                "p_cursor_created_at": cursor_at,
                "p_cursor_id": cursor_id,
                "p_limit": limit + 1,
            },
        )
        items = [job_from_row(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = rows[limit - 1]
            next_cursor = encode_cursor(last["created_at"], str(last["id"]))
        return JobPage(items=items, next_cursor=next_cursor)

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        ids = _uuids(job_ids)
        if not ids:
            return {}
        rows = self._rpc("queue_positions", {"p_ids": ids})
        return {str(r["job_id"]): int(r["queue_position"]) for r in rows}

    def queue_depth(self) -> QueueDepth:
        row = self._rpc("queue_depth", {})[0]
        age = row.get("oldest_queued_seconds")
        return QueueDepth(
            queued=int(row["queued"]),
            processing=int(row["processing"]),
            oldest_queued_seconds=None if age is None else float(age),
        )

    # ---- the queue -------------------------------------------------------------------------

    def claim(self, owner: str, lease_seconds: float, concurrency: int) -> Job | None:
        if concurrency < 1:
            return None
        rows = self._rpc(
            "claim_job",
            {"p_owner": owner, "p_lease_seconds": lease_seconds, "p_concurrency": concurrency},
        )
        return job_from_row(rows[0]) if rows else None

    def heartbeat(self, job_ids: list[str], owner: str, lease_seconds: float) -> set[str]:
        ids = _uuids(job_ids)
        if not ids:
            return set()
        held = self._rpc(
            "heartbeat_jobs", {"p_ids": ids, "p_owner": owner, "p_lease_seconds": lease_seconds}
        )
        return {str(i) for i in held or []}

    def finish(
        self,
        job_id: str,
        owner: str,
        *,
        result_path: str,
        thumb_path: str | None,
        result_meta: dict[str, Any],
    ) -> bool:
        return bool(
            self._rpc(
                "finish_job",
                {
                    "p_id": job_id,
                    "p_owner": owner,
                    "p_result_path": result_path,
                    "p_thumb_path": thumb_path,
                    "p_result_meta": result_meta or {},
                },
            )
        )

    def fail(self, job_id: str, owner: str, *, error_code: str, error_message: str) -> bool:
        return bool(
            self._rpc(
                "fail_job",
                {
                    "p_id": job_id,
                    "p_owner": owner,
                    "p_error_code": error_code,
                    "p_error_message": error_message,
                },
            )
        )

    def requeue(
        self,
        job_id: str,
        owner: str,
        *,
        run_after: datetime,
        error_code: str,
        error_message: str,
    ) -> bool:
        return bool(
            self._rpc(
                "requeue_job",
                {
                    "p_id": job_id,
                    "p_owner": owner,
                    "p_run_after": iso(run_after),
                    "p_error_code": error_code,
                    "p_error_message": error_message,
                },
            )
        )

    def release(self, job_ids: list[str], owner: str) -> int:
        ids = _uuids(job_ids)
        if not ids:
            return 0
        return int(self._rpc("release_jobs", {"p_ids": ids, "p_owner": owner}) or 0)

    def cancel(self, job_id: str) -> bool:
        if not is_uuid(job_id):
            return False
        return bool(self._rpc("cancel_job", {"p_id": job_id}))

    def delete_jobs(self, job_ids: list[str]) -> int:
        ids = _uuids(job_ids)
        if not ids:
            return 0
        query = self._server.table("jobs").delete().in_("id", ids).neq("status", "processing")
        if self._owner_id is not None:
            query = query.eq("user_id", self._owner_id)
        try:
            rows = query.execute().data
        except APIError as exc:
            raise_api_error(exc)
        return len(rows)

    def set_review(
        self,
        job_ids: list[str],
        *,
        status: ReviewStatus,
        note: str | None,
        reviewer_id: str,
    ) -> int:
        ids = _uuids(job_ids)
        if not ids:
            return 0
        params = {
            "p_ids": ids,
            "p_status": ReviewStatus(status).value,
            "p_note": note,
            "p_reviewer": reviewer_id,
        }
        return int(self._rpc("set_review", params) or 0)

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
        values = finished_statuses(statuses)
        if not values or limit < 1:
            return []
        rows = self._rpc(
            "purge_candidates",
            {
                "p_statuses": values,
                "p_finished_before": iso(finished_before),
                "p_user_id": user_id,
                "p_exclude_review": [ReviewStatus(r).value for r in exclude_review],
                "p_limit": int(limit),
            },
        )
        return [job_from_row(r) for r in rows]

    def try_acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        params = {"p_name": name, "p_owner": owner, "p_seconds": seconds}
        return bool(self._rpc("try_acquire_lease", params))

    def mark_generated(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        params = {"p_id": job_id, "p_owner": owner, "p_lease_seconds": lease_seconds}
        return bool(self._rpc("mark_job_generated", params))

    # ---- stored inputs (issue 11) ----------------------------------------------------------

    def inputs_in_use(self, paths: list[str]) -> set[str]:
        wanted = list(dict.fromkeys(p for p in paths if isinstance(p, str)))
        if not wanted:
            return set()
        rows = self._rpc("inputs_in_use", {"p_paths": wanted}) or []
        return {str(r["path"]) for r in rows}

    # ---- favourites (issue 12) -------------------------------------------------------------

    def set_starred(self, job_ids: list[str], starred: bool) -> int:
        ids = _uuids(job_ids)
        if not ids:
            return 0
        return int(self._rpc("set_starred", {"p_ids": ids, "p_starred": bool(starred)}) or 0)


# ---- helpers ---------------------------------------------------------------------------------


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def _with_lineage(new: NewJob) -> dict[str, Any]:
    """The params sent to submit_jobs, carrying the lineage under the reserved key `_lineage`:
    the insert trigger `jobs_take_lineage` (supabase-schema.sql, "edit and iterate") checks it,
    moves it into the parent_id / mask_path / reference_paths columns and drops the key, so
    submit_jobs itself is unchanged."""
    params = dict(new.request.params or {})
    request = new.request
    if request.parent_id or request.mask_path or request.reference_paths:
        params["_lineage"] = {
            "parent_id": request.parent_id,
            "mask_path": request.mask_path,
            "reference_paths": list(request.reference_paths),
        }
    return params


def _uuids(job_ids: list[str]) -> list[str]:
    """The distinct ids that can name a row (PostgREST rejects a non-UUID in a uuid filter)."""
    return [i for i in dict.fromkeys(job_ids) if is_uuid(i)]


def _valid_cursor(created_at: object, job_id: object) -> bool:
    if not isinstance(created_at, str) or not is_uuid(job_id):
        return False
    parse_time(created_at)  # raises ValueError for a malformed time
    return True
