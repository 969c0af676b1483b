"""The Supabase AdminStore: purge summaries, sweep records, user activity, quotas and usage
statistics through the service-role client and the functions of `supabase-schema.sql`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from postgrest.exceptions import APIError
from supabase import Client

from core.backends.common import LatencyBucket, finished_statuses, histogram_latency
from core.backends.supabase.client import call_rpc, parse_time, raise_api_error, rows_of
from core.backends.supabase.jobs import iso
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


class SupabaseAdminStore:
    """AdminStore with the service-role client (callers check roles first)."""

    def __init__(self, client: Client) -> None:
        self._client = client

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
        row = call_rpc(
            self._client,
            "purge_summary",
            {
                "p_statuses": values,
                "p_finished_before": iso(finished_before),
                "p_user_id": user_id,
                "p_exclude_review": [ReviewStatus(r).value for r in exclude_review],
            },
        )[0]
        return PurgeSummary(
            jobs=int(row["jobs"]), bytes=int(row["bytes"]), objects=int(row["objects"])
        )

    def record_sweep(self, run: SweepRun) -> None:
        call_rpc(
            self._client,
            "record_sweep",
            {
                "p_run": {
                    "id": run.id,
                    "trigger": run.trigger,
                    "owner": run.owner,
                    "started_at": iso(run.started_at),
                    "finished_at": iso(run.finished_at),
                    "deleted_jobs": run.deleted_jobs,
                    "deleted_bytes": run.deleted_bytes,
                    "kept_jobs": run.kept_jobs,
                    "errors": list(run.errors),
                }
            },
        )

    def list_sweeps(self, limit: int = 20) -> list[SweepRun]:
        try:
            rows = rows_of(
                self._client.table("sweep_runs")
                .select("*")
                .order("started_at", desc=True)
                .order("id")
                .limit(max(1, int(limit)))
                .execute()
                .data
            )
        except APIError as exc:
            raise_api_error(exc)
        return [
            SweepRun(
                id=str(r["id"]),
                trigger=r["trigger"],
                owner=r["owner"],
                started_at=parse_time(r["started_at"]) or datetime.now(UTC),
                finished_at=parse_time(r["finished_at"]) or datetime.now(UTC),
                deleted_jobs=int(r["deleted_jobs"]),
                deleted_bytes=int(r["deleted_bytes"]),
                kept_jobs=int(r["kept_jobs"]),
                errors=tuple(r.get("errors") or ()),
            )
            for r in rows
        ]

    def user_activity(self) -> dict[str, UserActivity]:
        rows = call_rpc(self._client, "user_activity", {})
        return {
            str(r["user_id"]): UserActivity(
                user_id=str(r["user_id"]),
                jobs=int(r["jobs"]),
                last_activity=parse_time(r["last_activity"]),
            )
            for r in rows
        }

    def set_daily_quota(self, user_id: str, quota: int | None) -> None:
        try:
            self._client.table("profiles").update({"daily_quota": quota}).eq(
                "id", user_id
            ).execute()
        except APIError as exc:
            raise_api_error(exc)

    def cancel_user_jobs(self, user_id: str) -> int:
        return int(call_rpc(self._client, "cancel_user_jobs", {"p_user_id": user_id}) or 0)

    def usage_stats(self, since: datetime, *, top_users: int = 10) -> UsageStats:
        """Figures for the jobs created from the UTC day of `since` on (job_stats reads the
        daily rollups; the result's `since` is that day's midnight)."""
        data = call_rpc(
            self._client, "job_stats", {"p_since": iso(since), "p_top_users": max(1, top_users)}
        )
        first_day = data.get("since")
        return UsageStats(
            since=(
                datetime.combine(date.fromisoformat(first_day), time(), UTC) if first_day else since
            ),
            per_day=[
                DailyCount(
                    day=date.fromisoformat(d["day"]),
                    provider=d["provider"],
                    jobs=int(d["jobs"]),
                    failed=int(d["failed"]),
                )
                for d in data.get("per_day") or []
            ],
            failures=[
                FailureCount(
                    provider=f["provider"], error_code=f["error_code"], jobs=int(f["jobs"])
                )
                for f in data.get("failures") or []
            ],
            latency=histogram_latency(
                {
                    provider: [LatencyBucket(int(b), int(n), int(t)) for b, n, t in buckets]
                    for provider, buckets in (data.get("latency") or {}).items()
                }
            ),
            top_users=[
                UserUsage(
                    user_id=str(u["user_id"]),
                    jobs=int(u["jobs"]),
                    done=int(u["done"]),
                    failed=int(u["failed"]),
                )
                for u in data.get("top_users") or []
            ],
            spend=[
                SpendRow(
                    provider=s["provider"],
                    model=s["model"],
                    user_id=str(s["user_id"]),
                    images=int(s["images"]),
                    priced=int(s["priced"]),
                    recorded_usd=float(s["recorded_usd"]),
                )
                for s in data.get("spend") or []
            ],
        )
