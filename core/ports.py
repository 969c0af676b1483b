"""Storage contracts: the job queue/store, the image blob store and accounts.
`local` (SQLite + files) and `supabase` implement them; one contract suite tests both."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from core.domain.changes import JobChanges
from core.domain.models import (
    ApiToken,
    Job,
    JobPage,
    JobQuery,
    JobStatus,
    NewJob,
    QueueDepth,
    ReviewStatus,
    Role,
    SessionInfo,
    User,
)
from core.domain.webhooks import DeliveryStatus, JobEvent, WebhookDelivery, WebhookEndpoint


class JobStore(Protocol):
    """Job rows. Every state change after `claim` is lease-checked: it applies only while
    `lease_owner == owner` and the job is `processing`, and returns False otherwise."""

    def create_jobs(
        self,
        jobs: list[NewJob],
        *,
        rate_limit_per_minute: int,
        daily_quota: int | None = None,
    ) -> list[Job]:
        """Insert one batch atomically, all for the same user. If the batch carries an
        idempotency key already used by that user, return the existing jobs instead (no
        insert, no rate-limit charge). Raises RateLimited (with seconds to wait) when the user
        would exceed `rate_limit_per_minute` jobs created in any 60 s, QuotaExceeded past
        `daily_quota` jobs since UTC midnight. A store acting with a user's own credentials
        (Supabase: their JWT) takes the quota from the server's settings instead, the same
        rule the services apply (the profile's override, else DAILY_QUOTA): a user never
        chooses their own."""
        ...

    def get_job(self, job_id: str) -> Job | None: ...

    def list_jobs(self, query: JobQuery) -> JobPage:
        """Keyset pagination on (created_at, id), newest first unless `oldest_first`.
        `text` is a case-insensitive substring match on the prompt."""
        ...

    def queue_positions(self, job_ids: list[str]) -> dict[str, int]:
        """1-based position among runnable queued jobs (claim order) for those still queued."""
        ...

    def queue_depth(self) -> QueueDepth: ...

    def claim(self, owner: str, lease_seconds: float, concurrency: int) -> Job | None:
        """Atomically take the oldest runnable job (queued, run_after <= now) unless
        `concurrency` jobs already hold a live lease (across every process). Sets processing,
        lease, started_at (first time) and attempts += 1."""
        ...

    def heartbeat(self, job_ids: list[str], owner: str, lease_seconds: float) -> set[str]:
        """Extend the leases still held by `owner`; return the ids it still holds."""
        ...

    def finish(
        self,
        job_id: str,
        owner: str,
        *,
        result_path: str,
        thumb_path: str | None,
        result_meta: dict[str, Any],
    ) -> bool: ...

    def fail(self, job_id: str, owner: str, *, error_code: str, error_message: str) -> bool: ...

    def requeue(
        self,
        job_id: str,
        owner: str,
        *,
        run_after: datetime,
        error_code: str,
        error_message: str,
    ) -> bool:
        """Back to queued after a transient error (attempts stay counted)."""
        ...

    def release(self, job_ids: list[str], owner: str) -> int:
        """Shutdown: hand unfinished leased jobs back to the queue, refunding the attempt."""
        ...

    def cancel(self, job_id: str) -> bool:
        """queued → canceled; False when the job is not queued."""
        ...

    def delete_jobs(self, job_ids: list[str]) -> int:
        """Delete rows (never one that is `processing`); return how many went."""
        ...

    def set_review(
        self,
        job_ids: list[str],
        *,
        status: ReviewStatus,
        note: str | None,
        reviewer_id: str,
    ) -> int: ...

    def purge_candidates(
        self,
        *,
        statuses: tuple[JobStatus, ...],
        finished_before: datetime,
        user_id: str | None = None,
        exclude_review: tuple[ReviewStatus, ...] = (),
        limit: int = 500,
    ) -> list[Job]:
        """Finished jobs (by finished_at, or created_at when never started) old enough to go."""
        ...

    def try_acquire_lease(self, name: str, owner: str, seconds: float) -> bool:
        """A named singleton lease (e.g. the sweeper): True if `owner` now holds it."""
        ...

    def mark_generated(self, job_id: str, owner: str, lease_seconds: float) -> bool:
        """The provider call of `owner`'s attempt has returned: the job stops counting toward
        claim's concurrency cap while its storage step runs (the claim clears the mark), and
        its lease is extended. False, changing nothing, when the lease is not `owner`'s."""

    # ---- stored inputs (issue 11) ----

    def inputs_in_use(self, paths: list[str]) -> set[str]:
        """Which of `paths` (stored input objects: source images, masks, references) some
        job row still names; the purge keeps those and deletes the rest."""
        ...

    # ---- favourites (issue 12) ----

    def set_starred(self, job_ids: list[str], starred: bool) -> int:
        """Star (or unstar) these jobs; return how many exist. Starring a starred job keeps its
        first time. The caller checks ownership; a store acting with a user's credentials
        (Supabase: their JWT) changes only that user's own jobs."""
        ...


class BlobStore(Protocol):
    """Image bytes. Paths: `{user_id}/{job_id}.{ext}` and `{user_id}/{job_id}.thumb.webp`.
    `put` is idempotent (overwrites)."""

    def put(self, path: str, data: bytes, mime: str) -> None: ...

    def get(self, path: str) -> bytes: ...

    def signed_urls(self, paths: list[str], ttl: int) -> dict[str, str]:
        """One call for a whole page. URLs may be relative (local: served by the app)."""
        ...

    def delete(self, paths: list[str]) -> list[str]:
        """Delete objects (missing ones count as deleted); return the paths that failed."""
        ...

    def size(self, path: str) -> int | None: ...

    def delete_folder(self, folder: str) -> list[str]:
        """Delete every object under `folder/` (a user's folder: files no row names, such as
        uploads); return the paths that failed."""
        ...


@dataclass(frozen=True)
class SignedIn:
    """The result of signing in: the user and an opaque, revocable session token for the
    browser cookie (never a provider secret or refresh token)."""

    user: User
    session_token: str


class Accounts(Protocol):
    """People, roles, browser sessions and API tokens."""

    def sign_up(
        self,
        email: str,
        password: str,
        *,
        admin_emails: frozenset[str],
        user_agent: str | None = None,
    ) -> SignedIn:
        """The first account, or an email in admin_emails, becomes admin. Raises
        ValidationError (bad email, password < 8 chars) or AccountExists. `user_agent` (the
        browser's header) is kept with the session for the session list."""
        ...

    def sign_in(self, email: str, password: str, *, user_agent: str | None = None) -> SignedIn:
        """Raises InvalidCredentials (same for unknown email) or AccountDisabled."""
        ...

    def resolve_session(self, session_token: str) -> User | None:
        """The user behind a live session token (None if unknown, revoked or disabled)."""
        ...

    def sign_out(self, session_token: str) -> None: ...

    def get_user(self, user_id: str) -> User | None: ...

    def find_user_by_email(self, email: str) -> User | None:
        """The user with this email (compared trimmed and lower-cased), or None."""
        ...

    def list_users(self) -> list[User]: ...

    def set_role(self, user_id: str, role: Role) -> None: ...

    def set_disabled(self, user_id: str, disabled: bool) -> None:
        """Disabling also revokes the user's sessions and tokens."""
        ...

    def create_api_token(self, user_id: str, name: str) -> tuple[ApiToken, str]:
        """Returns the token record and its secret, shown once (stored hashed)."""
        ...

    def resolve_api_token(self, secret: str) -> User | None:
        """Records last use; None if unknown, revoked or the user is disabled."""
        ...

    def list_api_tokens(self, user_id: str) -> list[ApiToken]: ...

    def revoke_api_token(self, user_id: str, token_id: str) -> bool: ...

    def delete_user(self, user_id: str) -> None:
        """Delete the account's rows at once: jobs (with their review decisions), idempotency
        keys, submissions, sessions, API tokens and the user (in Supabase mode the Auth user
        too). Files are the caller's (delete them first). NotFound for an unknown id; Conflict
        for the last enabled admin or while one of the user's jobs is being generated."""

    # ---- forgot password (issue #16) ----

    def create_password_reset(
        self, user_id: str, *, created_by: str | None, ttl_seconds: float
    ) -> str:
        """A one-time password reset token for the user, valid `ttl_seconds`, stored hashed
        (local mode; the Supabase backend refuses: Supabase Auth mails its own links)."""
        ...

    def reset_password(self, token: str, new_password: str) -> User:
        """Set a new password with a reset token (a local link's token, or a Supabase recovery
        token_hash): once, before it expires; ends every session of the user and lifts the
        sign-in lockout. ValidationError for a weak password or a bad token, changing nothing."""
        ...

    def send_password_reset_email(self, email: str, redirect_to: str) -> bool:
        """Ask the mail side to send a recovery link to `email` leading to `redirect_to`. False
        when this backend has no mail (local); True otherwise, whether or not such an account
        exists (no account enumeration)."""

    # ---- sessions and password (issue #16) ----

    def list_sessions(self, user_id: str, current_token: str | None) -> list[SessionInfo]:
        """The user's live sessions, newest first; the one of `current_token` is marked."""
        ...

    def revoke_session(self, user_id: str, session_id: str) -> bool:
        """End one session of the user by its id; False (nothing changed) when no session of
        this user has that id."""
        ...

    def revoke_other_sessions(self, user_id: str, current_token: str) -> int:
        """End every session of the user except the one of `current_token`; how many went."""
        ...

    def change_password(
        self, user_id: str, current_token: str, current_password: str, new_password: str
    ) -> None:
        """Check the current password (an attempt of the sign-in lockout: a wrong one counts
        as a failed sign-in, RateLimited while locked) and the new one (the sign-up rule), set
        it, and end every other session of the user. `current_token` must be a live session
        of the user (else AuthRequired). ValidationError for a wrong current or a weak new
        password, and then nothing changes."""
        ...

    def set_language(self, user_id: str, language: str | None) -> None:
        """Keep the user's UI language (a policy.LANGUAGES tag, checked by the service; None
        forgets it) in their profile. NotFound for no such user."""
        ...


# ---- review and admin tools ------------------------------------------------------------------


@dataclass(frozen=True)
class PurgeSummary:
    """What a purge with given criteria would delete: jobs, their recorded image bytes
    (`result_meta.bytes`) and their stored objects (result and thumbnail paths set)."""

    jobs: int
    bytes: int
    objects: int = 0


@dataclass(frozen=True)
class SweepRun:
    """One recorded purge run (the hourly sweeper, a manual sweep or an admin's purge)."""

    id: str
    trigger: str  # "schedule" | "manual" | "purge" | "cli"
    owner: str  # the process that ran it
    started_at: datetime
    finished_at: datetime
    deleted_jobs: int
    deleted_bytes: int
    kept_jobs: int  # rows kept because a file delete failed (retried next sweep)
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserActivity:
    user_id: str
    jobs: int
    last_activity: datetime | None


@dataclass(frozen=True)
class DailyCount:
    day: date  # UTC day the job was created
    provider: str
    jobs: int
    failed: int


@dataclass(frozen=True)
class FailureCount:
    provider: str
    error_code: str
    jobs: int


@dataclass(frozen=True)
class ProviderLatency:
    """Processing time (started_at → finished_at) of done jobs."""

    provider: str
    jobs: int
    p50_seconds: float
    p95_seconds: float


@dataclass(frozen=True)
class UserUsage:
    user_id: str
    jobs: int
    done: int
    failed: int


@dataclass(frozen=True)
class SpendRow:
    """Done jobs of one (provider, model, user) and the cost recorded in their result_meta
    (`cost_usd`, else the adapter's `estimated_cost_usd`); `priced` counts the jobs that
    carried either."""

    provider: str
    model: str
    user_id: str
    images: int
    priced: int
    recorded_usd: float


@dataclass(frozen=True)
class UsageStats:
    """Everything the admin page charts, for jobs created since `since`."""

    since: datetime
    per_day: list[DailyCount]
    failures: list[FailureCount]
    latency: list[ProviderLatency]
    top_users: list[UserUsage]
    spend: list[SpendRow]


class WebhookStore(Protocol):
    """Webhook endpoints, the job event log (written by the job store's own transactions: the
    outbox) and the deliveries fanned out from it (issue 15). Callers check ownership."""

    def secret(self, salt: str) -> str:
        """The `whsec_…` signing secret behind a salt (derived from the server key)."""
        ...

    def create_endpoint(
        self, user_id: str, url: str, events: tuple[str, ...], *, max_per_user: int
    ) -> WebhookEndpoint:
        """ValidationError past `max_per_user` endpoints (checked in the write transaction)."""
        ...

    def list_endpoints(self, user_id: str) -> list[WebhookEndpoint]: ...

    def get_endpoint(self, endpoint_id: str) -> WebhookEndpoint | None: ...

    def delete_endpoint(self, user_id: str, endpoint_id: str) -> bool:
        """Delete the user's endpoint; its pending deliveries become `gone`."""
        ...

    def account_salt(self, user_id: str, *, rotate: bool = False) -> str | None:
        """The salt of the user's per-job webhook secret; `rotate` makes a new one (also the
        first one). None when the user has none."""
        ...

    def attach_job_urls(self, user_id: str, job_ids: list[str], url: str) -> None:
        """Remember a per-job webhook_url, before the jobs are created."""
        ...

    def fan_out(self, limit: int = 200) -> int:
        """Turn job events not yet seen into deliveries (one per matching enabled endpoint and
        per job URL) in one transaction with the cursor; return how many events were read."""
        ...

    def claim_deliveries(
        self, owner: str, lease_seconds: float, limit: int
    ) -> list[WebhookDelivery]:
        """Take due pending deliveries (next attempt passed, no live lease): attempts += 1."""
        ...

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
        """The end of an attempt (lease-checked): delivered, pending again at
        `next_attempt_at`, failed, or gone (a 410: the endpoint is disabled and its other
        pending deliveries go too)."""
        ...

    def list_deliveries(
        self, user_id: str, *, endpoint_id: str | None = None, limit: int = 50
    ) -> list[WebhookDelivery]:
        """Newest first."""
        ...

    def get_delivery(self, delivery_id: str) -> WebhookDelivery | None: ...

    def resend(self, user_id: str, delivery_id: str) -> bool:
        """Send a delivery of the user's again now (same webhook-id, attempts from zero)."""
        ...

    def events_after(
        self, user_id: str, after_seq: int, *, job_id: str | None = None, limit: int = 100
    ) -> list[JobEvent]:
        """The user's job events with seq > after_seq, oldest first."""
        ...

    def last_event_seq(self, user_id: str, *, job_id: str | None = None) -> int:
        """The newest event seq of the user (or of one job); 0 when none."""
        ...


class AdminStore(Protocol):
    """Queries and changes behind the review/admin tools. Callers (the services, the sweeper)
    check roles first; implementations act with server credentials."""

    def purge_summary(
        self,
        *,
        statuses: tuple[JobStatus, ...],
        finished_before: datetime,
        user_id: str | None = None,
        exclude_review: tuple[ReviewStatus, ...] = (),
    ) -> PurgeSummary:
        """Count jobs and objects and sum `result_meta.bytes` over exactly the jobs
        `purge_candidates` with the same arguments would return (without a limit)."""
        ...

    def record_sweep(self, run: SweepRun) -> None: ...

    def list_sweeps(self, limit: int = 20) -> list[SweepRun]:
        """Most recent first."""
        ...

    def user_activity(self) -> dict[str, UserActivity]:
        """Job count and latest job creation per user id (users without jobs are absent)."""
        ...

    def set_daily_quota(self, user_id: str, quota: int | None) -> None:
        """None = the global default (DAILY_QUOTA)."""
        ...

    def cancel_user_jobs(self, user_id: str) -> int:
        """Cancel every queued job of a user; return how many."""
        ...

    def usage_stats(self, since: datetime, *, top_users: int = 10) -> UsageStats:
        """Figures for the jobs created from the UTC day of `since` on, read from daily rollups
        kept at write time (the result's `since` is that day's midnight). Latency percentiles
        come from a duration histogram (core.backends.common.histogram_latency)."""
        ...


@dataclass
class Backend:
    """The three stores of one deployment."""

    name: str
    jobs: JobStore
    blobs: BlobStore
    accounts: Accounts
    admin: AdminStore | None = None  # review/admin queries; None where not implemented
    # "a job changed" in this process (core.domain.changes); the opened backend's job store
    # notifies it (core.backends.notify)
    changes: JobChanges = field(default_factory=JobChanges, repr=False)
    # webhook endpoints, the job event log and deliveries; None where not implemented
    webhooks: WebhookStore | None = field(default=None, repr=False)

    def for_user(self, user: User) -> Backend:
        """Stores acting with the user's own credentials (Supabase: their JWT, so RLS
        applies). The local backend returns itself."""
        return self

    def storage_problem(self) -> str | None:
        """Why this deployment's own storage cannot take writes now, in plain words (for
        /api/health), or None. Hosted storage (Supabase) reports nothing here."""
        return None

    def close(self) -> None:
        """Release connections."""


# ---- argument checks every implementation makes before touching its store ---------------------
