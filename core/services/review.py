"""ReviewService: the review queue of finished images from every user, the decisions on them
(approve, reject, flag), side-by-side comparison, and whose image it is. Reviewers and admins
only; every method checks the caller's role itself."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import replace

from core.domain.errors import Conflict, NotFound, ValidationError
from core.domain.models import Job, JobPage, JobQuery, JobStatus, ReviewStatus, Role, User, is_uuid
from core.ports import Backend
from core.services.access import page_limit, require_role, user_jobs

MAX_REVIEW_NOTE = 1_000
MAX_REVIEW_SELECTION = 100
COMPARE_MIN, COMPARE_MAX = 2, 4
USER_EMAILS_TTL_S = 30.0


class ReviewService:
    """What reviewers do."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._emails: tuple[float, dict[str, str]] | None = None  # (monotonic time, emails)
        self._emails_lock = threading.Lock()

    def review_queue(self, user: User, query: JobQuery) -> JobPage:
        """Finished images of every user (done jobs only), for reviewers and admins. The page
        decides the order (`oldest_first` for the default queue)."""
        require_role(user, Role.REVIEWER)
        query = replace(query, statuses=(JobStatus.DONE,), limit=page_limit(query.limit))
        return user_jobs(self.backend, user).list_jobs(query)

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
        decision = _review_status(status)
        note = _review_note(note)
        ids = _selection(job_ids)
        store = user_jobs(self.backend, user)
        for job_id in ids:
            job = store.get_job(job_id) if is_uuid(job_id) else None
            if job is None:
                raise NotFound()
            if job.status is not JobStatus.DONE:
                raise Conflict("Only finished images can be reviewed.", reason="review_unfinished")
        return store.set_review(ids, status=decision, note=note, reviewer_id=user.id)

    def compare_jobs(self, user: User, job_ids: Iterable[str]) -> list[Job]:
        """2 to 4 jobs the user may see, in the order given, to show side by side."""
        require_role(user, Role.REVIEWER)
        ids = list(dict.fromkeys(job_ids))
        if not COMPARE_MIN <= len(ids) <= COMPARE_MAX:
            raise ValidationError(
                f"Compare {COMPARE_MIN} to {COMPARE_MAX} images.",
                reason="compare_count",
                params={"min": COMPARE_MIN, "max": COMPARE_MAX},
            )
        store = user_jobs(self.backend, user)
        jobs = [store.get_job(i) if is_uuid(i) else None for i in ids]
        if any(j is None for j in jobs):
            raise NotFound()
        return [j for j in jobs if j is not None]

    def user_emails(self, user: User) -> dict[str, str]:
        """Every account's email by id, for reviewers to see and filter whose image it is."""
        require_role(user, Role.REVIEWER)
        # Every Review render needs them: read every account once per USER_EMAILS_TTL_S, not
        # once per render (a new account or a changed email shows within that time).
        with self._emails_lock:
            cached = self._emails
            if cached is not None and time.monotonic() - cached[0] < USER_EMAILS_TTL_S:
                return dict(cached[1])
            emails = {person.id: person.email for person in self.backend.accounts.list_users()}
            self._emails = (time.monotonic(), emails)
            return dict(emails)


def _review_status(status: ReviewStatus | str) -> ReviewStatus:
    try:
        return ReviewStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in ReviewStatus)
        raise ValidationError(f"Unknown review status {status!r}; use {choices}.") from None


def _review_note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > MAX_REVIEW_NOTE:
        raise ValidationError(
            f"A review note has at most {MAX_REVIEW_NOTE} characters.",
            reason="review_note_too_long",
            params={"max": MAX_REVIEW_NOTE},
        )
    return note


def _selection(job_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(job_ids))
    if not ids:
        raise ValidationError("Select at least one image to review.", reason="review_none_selected")
    if len(ids) > MAX_REVIEW_SELECTION:
        raise ValidationError(
            f"Review at most {MAX_REVIEW_SELECTION} images at once.",
            reason="review_too_many",
            params={"max": MAX_REVIEW_SELECTION},
        )
    return ids
