"""The review and admin half of JobService (mixed into it): the review queue and decisions,
purge and sweeps, usage statistics, and user management. Every method checks the caller's role
itself, so a page that forgets to cannot leak."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from core.domain.errors import (
    AccountDisabled,
    AuthRequired,
    Conflict,
    Forbidden,
    NotFound,
    ValidationError,
)
from core.domain.models import Job, JobPage, JobQuery, JobStatus, ReviewStatus, Role, User, is_uuid
from core.ports import AdminStore, PurgeSummary, SweepRun
from core.providers.base import ModelInfo, utc_today
from core.services import purge as purging
from core.services import stats as usage
from core.services.sweeper import Sweeper

if TYPE_CHECKING:
    from core.domain.settings import Settings
    from core.ports import Backend, JobStore
    from core.providers.base import Provider

MAX_PAGE = 100  # items per page of any listing (the API's upper bound on `limit`)
MAX_REVIEW_NOTE = 1_000
MAX_REVIEW_SELECTION = 100
COMPARE_MIN, COMPARE_MAX = 2, 4
MAX_DAILY_QUOTA = 100_000
MAX_STATS_DAYS = 366
SHUTDOWN_WARNING_DAYS = 30


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


class ReviewAdminMixin:
    """Review and admin operations of JobService."""

    backend: Backend
    providers: dict[str, Provider]
    settings: Settings

    if TYPE_CHECKING:

        def _jobs(self, user: User) -> JobStore: ...  # provided by JobService

    # ---- review ----------------------------------------------------------------------------

    def review_queue(self, user: User, query: JobQuery) -> JobPage:
        """Finished images of every user (done jobs only), for reviewers and admins. The page
        decides the order (`oldest_first` for the default queue)."""
        require_role(user, Role.REVIEWER)
        limit = max(1, min(query.limit, MAX_PAGE))
        query = replace(query, statuses=(JobStatus.DONE,), limit=limit)
        return self._jobs(user).list_jobs(query)

    def set_review(
        self,
        user: User,
        job_ids: Iterable[str],
        status: ReviewStatus | str,
        note: str | None = None,
    ) -> int:
        """Approve / reject / flag (or reset to unreviewed) one or more done jobs; the reviewer
        and the time are recorded. Returns how many jobs changed."""
        require_role(user, Role.REVIEWER)
        try:
            status = ReviewStatus(status)
        except ValueError:
            choices = ", ".join(s.value for s in ReviewStatus)
            raise ValidationError(f"Unknown review status {status!r}; use {choices}.") from None
        note = (note or "").strip() or None
        if note is not None and len(note) > MAX_REVIEW_NOTE:
            raise ValidationError(f"A review note has at most {MAX_REVIEW_NOTE} characters.")
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            raise ValidationError("Select at least one image to review.")
        if len(ids) > MAX_REVIEW_SELECTION:
            raise ValidationError(f"Review at most {MAX_REVIEW_SELECTION} images at once.")
        store = self._jobs(user)
        for job_id in ids:
            job = store.get_job(job_id) if is_uuid(job_id) else None
            if job is None:
                raise NotFound()
            if job.status is not JobStatus.DONE:
                raise Conflict("Only finished images can be reviewed.")
        return store.set_review(ids, status=status, note=note, reviewer_id=user.id)

    def compare_jobs(self, user: User, job_ids: Iterable[str]) -> list[Job]:
        """2 to 4 jobs the user may see, in the order given, to show side by side."""
        require_role(user, Role.REVIEWER)
        ids = list(dict.fromkeys(job_ids))
        if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
            raise ValidationError(f"Compare {COMPARE_MIN} to {COMPARE_MAX} images.")
        store = self._jobs(user)
        jobs = [store.get_job(i) if is_uuid(i) else None for i in ids]
        if any(j is None for j in jobs):
            raise NotFound()
        return [j for j in jobs if j is not None]

    def user_emails(self, user: User) -> dict[str, str]:
        """Every account's email by id, for reviewers to see and filter whose image it is."""
        require_role(user, Role.REVIEWER)
        return {person.id: person.email for person in self.backend.accounts.list_users()}

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
            raise NotFound("No such user.")
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
            raise ValidationError("Preview the purge first.")
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
            raise ValidationError(f"Choose between 1 and {MAX_STATS_DAYS} days.")
        return usage.build_dashboard(self.backend, self.providers, days=days, top_users=top_users)

    def upcoming_shutdowns(
        self, user: User, *, days: int = SHUTDOWN_WARNING_DAYS
    ) -> list[ShutdownWarning]:
        """Models whose shutdown is at most `days` days ahead and that jobs created in the
        last `days` days (or queued now) use, soonest first."""
        require_role(user, Role.ADMIN)
        today = utc_today()
        since = datetime.now(UTC) - timedelta(days=days)
        store = self._jobs(user)
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
                    effective_quota=self._effective_quota(person),
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
        try:
            role = Role(role)
        except ValueError:
            raise ValidationError(f"Unknown role {role!r}; use user, reviewer or admin.") from None
        target = self._target_user(user_id)
        self.backend.accounts.set_role(target.id, role)
        return self._target_user(target.id)

    def set_disabled(self, admin: User, user_id: str, disabled: bool) -> int:
        """Disable (or re-enable) an account. A disabled user cannot sign in, use API tokens
        or submit; their queued jobs are canceled. Returns how many jobs were canceled."""
        require_role(admin, Role.ADMIN)
        target = self._target_user(user_id)
        if disabled and target.id == admin.id:
            raise Conflict("You cannot disable your own account.")
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
            raise ValidationError(f"A daily quota is a whole number from 0 to {MAX_DAILY_QUOTA}.")
        target = self._target_user(user_id)
        self._admin_store().set_daily_quota(target.id, quota)
        return self._target_user(target.id)

    # ---- helpers ---------------------------------------------------------------------------

    def _effective_quota(self, user: User) -> int | None:
        """The user's own daily quota, else the global DAILY_QUOTA."""
        return user.daily_quota if user.daily_quota is not None else self.settings.daily_quota

    def _admin_store(self) -> AdminStore:
        return purging.admin_store(self.backend)

    def _target_user(self, user_id: str) -> User:
        target = self.backend.accounts.get_user(user_id) if isinstance(user_id, str) else None
        if target is None:
            raise NotFound("No such user.")
        return target


def require_role(user: User | None, role: Role) -> None:
    """Signed in, enabled, and at least `role` (admin ⊃ reviewer ⊃ user)."""
    if user is None:
        raise AuthRequired("Sign in first.")
    if user.disabled:
        raise AccountDisabled()
    allowed = user.is_admin if role is Role.ADMIN else user.is_reviewer
    if role is not Role.USER and not allowed:
        raise Forbidden(
            "Only admins can do this." if role is Role.ADMIN else "Only reviewers can do this."
        )
