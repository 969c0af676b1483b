"""AdminService: purge and retention sweeps, usage statistics, models shutting down, and user
management (roles, disabling, daily quotas), for admins in the app and for the operator at the
server (the management CLI, which has no account to sign in with). Every method that acts for a
signed-in person checks their role itself, so a page that forgets to cannot leak."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from core.domain.errors import Conflict, NotFound, ValidationError
from core.domain.models import JobQuery, JobStatus, ReviewStatus, Role, User
from core.domain.policy import (
    RESET_LINK_SECONDS,
    check_delete_confirmation,
    reset_link_url,
)
from core.domain.settings import Settings
from core.ports import AdminStore, Backend, PurgeSummary, SweepRun
from core.providers.base import ModelInfo, Provider, utc_today
from core.services import purge as purging
from core.services import stats as usage
from core.services import your_data
from core.services.access import MAX_PAGE, effective_quota, require_role, user_jobs
from core.services.accounts import AccountsService
from core.services.sweeper import Sweeper

MAX_DAILY_QUOTA = 100_000
MAX_STATS_DAYS = 366
SHUTDOWN_WARNING_DAYS = 30

WorkerStats = Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class UserSummary:
    """A row of the admin page's user list."""

    user: User
    jobs: int
    last_activity: datetime | None
    effective_quota: int | None  # the user's own quota, else the global default


@dataclass(frozen=True)
class ShutdownWarning:
    """A model that shuts down soon while jobs still use it. Counts stop at MAX_PAGE (which
    then means "at least MAX_PAGE")."""

    provider: str
    model: ModelInfo
    recent_jobs: int  # created in the last SHUTDOWN_WARNING_DAYS days, any status
    queued_jobs: int  # waiting now: they fail on the shutdown date if still queued


@dataclass(frozen=True)
class Background:
    """This process's background threads, as the runtime attached them."""

    worker: Mapping[str, Any] | None  # the local worker's figures; None: no worker here
    sweeper_running: bool

    @property
    def worker_alive(self) -> bool:
        return bool(self.worker and self.worker.get("alive"))


class AdminService:
    """What admins and the operator do."""

    def __init__(
        self,
        backend: Backend,
        providers: dict[str, Provider],
        settings: Settings,
        accounts: AccountsService,
    ) -> None:
        self.backend = backend
        self.providers = providers
        self.settings = settings
        self._accounts = accounts
        self._worker_stats: WorkerStats | None = None
        self._sweeper: Sweeper | None = None

    # ---- this process ----------------------------------------------------------------------

    def attach_background(
        self, *, worker_stats: WorkerStats | None, sweeper: Sweeper | None
    ) -> None:
        """Called by the runtime when it starts (and stops) this process's worker and sweeper."""
        self._worker_stats = worker_stats
        self._sweeper = sweeper

    def background(self) -> Background:
        """Whether this process runs a worker (and its figures) and a sweeper."""
        return Background(
            worker=self._worker_stats() if self._worker_stats is not None else None,
            sweeper_running=self._sweeper is not None and self._sweeper.alive,
        )

    def backend_name(self) -> str:
        """The backend this deployment runs on: `local` or `supabase`."""
        return self.backend.name

    # ---- purge and sweeps ------------------------------------------------------------------

    def purge_preview(
        self,
        user: User,
        statuses: Iterable[JobStatus | str],
        older_than_seconds: float,
        *,
        user_id: str | None = None,
        exclude_review: Iterable[ReviewStatus | str] = (),
    ) -> tuple[purging.PurgeCriteria, PurgeSummary]:
        """Fix the criteria (absolute cutoff) and count what they would delete. Pass the
        criteria back to `purge` to delete exactly that."""
        require_role(user, Role.ADMIN)
        if user_id is not None and self.backend.accounts.get_user(user_id) is None:
            raise NotFound("No such user.", reason="user_not_found")
        criteria = purging.make_criteria(
            statuses, older_than_seconds, user_id=user_id, exclude_review=exclude_review
        )
        return criteria, purging.preview(self.backend, criteria)

    def purge(
        self,
        user: User,
        criteria: purging.PurgeCriteria,
        *,
        progress: Callable[[int, int], None] | None = None,
        expected: int | None = None,
        batch_size: int = purging.DEFAULT_BATCH,
    ) -> purging.PurgeReport:
        """Delete the jobs matching previewed criteria (files first), recorded as a run.
        Raises Conflict while another purge or sweep runs."""
        require_role(user, Role.ADMIN)
        if not isinstance(criteria, purging.PurgeCriteria):
            raise ValidationError("Preview the purge first.", reason="purge_preview_first")
        report, _run = purging.run_recorded(
            self.backend,
            criteria,
            trigger="purge",
            owner=purging.process_owner(f"purge-{user.id[:8]}"),
            batch_size=batch_size,
            progress=progress,
            expected=expected,
        )
        return report

    def retention_preview(self, user: User) -> PurgeSummary:
        """What the sweeper would delete if it ran now."""
        require_role(user, Role.ADMIN)
        return purging.preview(self.backend, purging.retention_criteria(self.settings))

    def sweep_now(self, user: User) -> SweepRun:
        """Run the retention sweep by hand (recorded like a scheduled one)."""
        require_role(user, Role.ADMIN)
        run = Sweeper(self.backend, self.settings).run_once(trigger="manual")
        if run is None:
            raise purging.PurgeBusy()
        return run

    def sweep_runs(self, user: User, limit: int = 20) -> list[SweepRun]:
        require_role(user, Role.ADMIN)
        return self._admin_store().list_sweeps(max(1, min(int(limit), 200)))

    # ---- usage -----------------------------------------------------------------------------

    def stats(self, user: User, *, days: int = 30, top_users: int = 10) -> usage.Dashboard:
        """Usage and health figures for the last `days` days."""
        require_role(user, Role.ADMIN)
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_STATS_DAYS:
            raise ValidationError(
                f"Choose between 1 and {MAX_STATS_DAYS} days.",
                reason="stats_days",
                params={"max": MAX_STATS_DAYS},
            )
        return usage.build_dashboard(self.backend, self.providers, days=days, top_users=top_users)

    def upcoming_shutdowns(
        self, user: User, *, days: int = SHUTDOWN_WARNING_DAYS
    ) -> list[ShutdownWarning]:
        """Models whose shutdown is at most `days` days ahead and that jobs created in the
        last `days` days (or queued now) use, soonest first."""
        require_role(user, Role.ADMIN)
        today = utc_today()
        since = datetime.now(UTC) - timedelta(days=days)
        store = user_jobs(self.backend, user)
        found: list[ShutdownWarning] = []
        for provider in self.providers.values():
            for model in provider.models:
                if not model.shuts_down_within(today, days):
                    continue
                query = JobQuery(providers=(provider.name,), models=(model.id,), limit=MAX_PAGE)
                recent = store.list_jobs(replace(query, created_after=since))
                queued = store.list_jobs(replace(query, statuses=(JobStatus.QUEUED,)))
                if recent.items or queued.items:
                    found.append(
                        ShutdownWarning(
                            provider=provider.name,
                            model=model,
                            recent_jobs=len(recent.items),
                            queued_jobs=len(queued.items),
                        )
                    )
        return sorted(found, key=lambda w: (w.model.shuts_down_on or today, w.model.id))

    # ---- users -----------------------------------------------------------------------------

    def list_users(self, user: User) -> list[UserSummary]:
        """Every account with its job count and last activity, oldest account first."""
        require_role(user, Role.ADMIN)
        activity = self._admin_store().user_activity()
        out = []
        for person in self.backend.accounts.list_users():
            seen = activity.get(person.id)
            out.append(
                UserSummary(
                    user=person,
                    jobs=seen.jobs if seen else 0,
                    last_activity=seen.last_activity if seen else None,
                    effective_quota=effective_quota(person, self.settings),
                )
            )
        return out

    def set_role(self, admin: User, user_id: str, role: Role | str) -> User:
        """Change someone's role. The last enabled admin cannot stop being one (Conflict)."""
        require_role(admin, Role.ADMIN)
        return self.operator_set_role(user_id, role)

    def operator_set_role(self, user_id: str, role: Role | str) -> User:
        """set_role for the operator at the server (the management CLI), who has no account to
        sign in with: the same checks and the same last-admin rule, which the backend enforces
        atomically where the accounts live."""
        new_role = _parse_role(role)
        target = self._target_user(user_id)
        self.backend.accounts.set_role(target.id, new_role)
        return self._target_user(target.id)

    def set_disabled(self, admin: User, user_id: str, disabled: bool) -> int:
        """Disable (or re-enable) an account. A disabled user cannot sign in, use API tokens
        or submit; their queued jobs are canceled. Returns how many jobs were canceled."""
        require_role(admin, Role.ADMIN)
        target = self._target_user(user_id)
        if disabled and target.id == admin.id:
            raise Conflict("You cannot disable your own account.", reason="disable_self")
        self.backend.accounts.set_disabled(target.id, bool(disabled))
        return self._admin_store().cancel_user_jobs(target.id) if disabled else 0

    def set_daily_quota(self, admin: User, user_id: str, quota: int | None) -> User:
        """A user's own daily image limit; None falls back to the global DAILY_QUOTA."""
        require_role(admin, Role.ADMIN)
        if quota is not None and (
            isinstance(quota, bool)
            or not isinstance(quota, int)
            or not 0 <= quota <= MAX_DAILY_QUOTA
        ):
            raise ValidationError(
                f"A daily quota is a whole number from 0 to {MAX_DAILY_QUOTA}.",
                reason="daily_quota_range",
                params={"max": MAX_DAILY_QUOTA},
            )
        target = self._target_user(user_id)
        self._admin_store().set_daily_quota(target.id, quota)
        return self._target_user(target.id)

    def delete_user(self, admin: User, user_id: str, confirm_email: str) -> None:
        """Delete someone's account, confirmed by typing their email, the way they could
        themselves (files first, then rows). The last enabled admin cannot be deleted."""
        require_role(admin, Role.ADMIN)
        target = self._target_user(user_id)
        check_delete_confirmation(confirm_email, target.email)
        your_data.erase_user(self.backend, target)

    # ---- the operator (management CLI) -----------------------------------------------------

    def find_user(self, email: str) -> User:
        """The account with this email (NotFound otherwise)."""
        user = self.backend.accounts.find_user_by_email(email)
        if user is None:
            raise NotFound(f"No user with the email {email.strip()!r}.")
        return user

    def all_users(self) -> list[User]:
        """Every account, oldest first."""
        return self.backend.accounts.list_users()

    def add_user(self, email: str, password: str, role: Role | str | None = None) -> User:
        """Create an account without signing it in. Without `role` it gets the sign-up default
        (admin for the first account or an ADMIN_EMAILS address, else user); the first account
        can only be an admin."""
        wanted = None if role is None else _parse_role(role)
        if wanted not in (None, Role.ADMIN) and not self.all_users():
            raise Conflict("The first account is the admin: add it without --role or as admin.")
        signed_in = self._accounts.sign_up(email, password)
        self._accounts.sign_out(signed_in.session_token)  # no browser session needed
        user = signed_in.user
        if wanted is not None and wanted is not user.role:
            user = self.operator_set_role(user.id, wanted)
        return user

    def purge_jobs_preview(
        self, statuses: Iterable[JobStatus | str], finished_before: datetime
    ) -> PurgeSummary:
        """What `purge_jobs` would delete now: jobs, files and bytes."""
        return purging.preview(self.backend, purging.criteria_before(statuses, finished_before))

    def purge_jobs(
        self, statuses: Iterable[JobStatus | str], finished_before: datetime
    ) -> purging.PurgeReport:
        """Delete the finished jobs with one of `statuses` finished before the cutoff (files
        first, then rows), recorded as a run. Raises PurgeBusy while another purge or sweep
        runs."""
        criteria = purging.criteria_before(statuses, finished_before)
        return purging.run_recorded(self.backend, criteria, trigger="cli")[0]

    def sweep(self) -> purging.PurgeReport:
        """One retention sweep now, recorded. Raises PurgeBusy while another purge or sweep
        runs."""
        return purging.sweep_expired(self.backend, self.settings)

    # ---- forgot password (issue #16) -------------------------------------------------------

    def create_reset_link(self, admin: User, user_id: str) -> str:
        """A one-time password reset link for a user (local mode), valid RESET_LINK_SECONDS,
        to show the admin once: PUBLIC_URL/?reset=TOKEN, or relative without PUBLIC_URL."""
        require_role(admin, Role.ADMIN)
        return self._reset_link(self._target_user(user_id), created_by=admin.id)

    def operator_reset_link(self, email: str) -> str:
        """create_reset_link for the operator at the server (the management CLI)."""
        return self._reset_link(self.find_user(email), created_by=None)

    def send_reset_email(self, admin: User, user_id: str) -> str:
        """Have Supabase Auth email a user a recovery link (Supabase mode); the message."""
        require_role(admin, Role.ADMIN)
        return self._accounts.forgot_password(self._target_user(user_id).email)

    def _reset_link(self, target: User, *, created_by: str | None) -> str:
        token = self.backend.accounts.create_password_reset(
            target.id, created_by=created_by, ttl_seconds=RESET_LINK_SECONDS
        )
        return reset_link_url(self.settings.public_url, token)

    # ---- helpers ---------------------------------------------------------------------------

    def _admin_store(self) -> AdminStore:
        return purging.admin_store(self.backend)

    def _target_user(self, user_id: str) -> User:
        target = self.backend.accounts.get_user(user_id) if isinstance(user_id, str) else None
        if target is None:
            raise NotFound("No such user.", reason="user_not_found")
        return target


def _parse_role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError(f"Unknown role {role!r}; use user, reviewer or admin.") from None
