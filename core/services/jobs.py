"""JobsService: a person's own jobs — the provider catalogue, submitting, watching, canceling,
retrying and deleting jobs, and their images. It validates, enforces ownership and roles, and
talks to the backend stores."""

from __future__ import annotations

import logging
import mimetypes
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO

from core.domain.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ValidationError,
)
from core.domain.models import (
    Job,
    JobKind,
    JobPage,
    JobQuery,
    JobRequest,
    JobStatus,
    NewJob,
    QueueDepth,
    Role,
    User,
    is_uuid,
)
from core.domain.paths import is_own_input_path, job_paths
from core.domain.settings import Settings
from core.ports import Backend, JobStore
from core.providers.base import SEED_MAX, Provider, compatible_params
from core.services import inputs, selection
from core.services.access import MAX_PAGE as MAX_PAGE  # the API's bound on `limit`
from core.services.access import effective_quota, page_limit, require_role, user_jobs
from core.services.signed_urls import SignedUrlCache
from core.services.webhooks import attach_job_webhook

log = logging.getLogger(__name__)

MAX_COUNT = 4
MAX_COMPARE = 6  # provider/model pairs in one comparison
MAX_IDEMPOTENCY_KEY = 200
MAX_SELECTION = 200  # jobs starred, zipped or deleted together (issue 12)
BEING_GENERATED = "This job is being generated; wait for it to finish, then delete it."


class JobsService:
    """What a person or API client does with jobs, with the checks that go with it."""

    def __init__(
        self,
        backend: Backend,
        providers: dict[str, Provider],
        settings: Settings,
        *,
        wake_worker: Callable[[], None] | None = None,
    ) -> None:
        self.backend = backend
        self.providers = providers
        self.settings = settings
        self._wake_worker = wake_worker or (lambda: None)
        self._signed_urls = SignedUrlCache()

    def set_wake_worker(self, wake: Callable[[], None]) -> None:
        """Called by the runtime once the local worker exists."""
        self._wake_worker = wake

    # ---- catalogue ------------------------------------------------------------------------

    def provider(self, name: str) -> Provider:
        provider = self.providers.get(name) if isinstance(name, str) else None
        if provider is None:
            known = ", ".join(sorted(self.providers))
            raise ValidationError(
                f"Unknown provider {name!r}. Choose one of: {known}.",
                reason="unknown_provider",
                params={"provider": str(name), "choices": known},
            )
        return provider

    def validate_request(self, request: JobRequest) -> JobRequest:
        """Check a request against the provider's catalogue; return it with cleaned params
        and the default model filled in."""
        provider = self.provider(request.provider)
        if not provider.available():
            raise provider.unavailable_error()
        model = request.model or provider.default_model.id
        params = provider.validate(model, request.prompt, request.params or {})
        if request.kind is JobKind.EDIT and not provider.model(model).capabilities.edit:
            raise ValidationError(
                f"{model} cannot edit images.", reason="model_cannot_edit", params={"model": model}
            )
        return replace(request, model=model, params=params, prompt=request.prompt.strip())

    def current_request(self, request: JobRequest) -> JobRequest:
        """`request` on today's catalogue: a model that has shut down is swapped for its named
        replacement, keeping the options the replacement takes. Anything else is returned as
        it is (submitting it reports what is wrong)."""
        provider = self.providers.get(request.provider)
        if provider is None or not any(m.id == request.model for m in provider.models):
            return request
        try:
            model = provider.successor(request.model)
        except ValidationError:
            return request
        if model.id == request.model:
            return request
        return replace(request, model=model.id, params=compatible_params(model, request.params))

    # ---- jobs -----------------------------------------------------------------------------

    def submit(
        self,
        user: User,
        request: JobRequest,
        *,
        count: int = 1,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
    ) -> list[Job]:
        """Validate and queue `count` copies of a request as one batch. The same user and
        idempotency key return the batch created the first time. `webhook_url` receives the
        jobs' events, signed with the user's per-job webhook secret (issue 15)."""
        require_role(user, Role.USER)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            raise ValidationError(
                f"Choose between 1 and {MAX_COUNT} images.",
                reason="image_count",
                params={"max": MAX_COUNT},
            )
        if idempotency_key is not None and (
            not idempotency_key.strip() or len(idempotency_key) > MAX_IDEMPOTENCY_KEY
        ):
            raise ValidationError(
                f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY} characters long.",
                reason="idempotency_key_length",
                params={"max": MAX_IDEMPOTENCY_KEY},
            )
        request = self.validate_request(request)
        if request.kind is JobKind.EDIT and not is_own_input_path(user.id, request.input_path):
            raise ValidationError("Edit one of your own uploaded images.", reason="edit_own_images")
        inputs.check_request_inputs(user, request)
        if request.parent_id is not None:
            self._owned(user, request.parent_id)  # another user's job is 404
        batch_id = str(uuid.uuid4())
        new_jobs = [
            NewJob(
                id=str(uuid.uuid4()),
                user_id=user.id,
                request=batch_member(request, index),
                batch_id=batch_id,
                max_attempts=self.settings.max_attempts,
                idempotency_key=idempotency_key,
            )
            for index in range(count)
        ]
        if webhook_url is not None:
            attach_job_webhook(
                self.backend, self.settings, user, [j.id for j in new_jobs], webhook_url
            )
        jobs = self._jobs(user).create_jobs(
            new_jobs,
            rate_limit_per_minute=self.settings.rate_limit_per_minute,
            daily_quota=effective_quota(user, self.settings),
        )
        self._wake_worker()
        return jobs

    def get_job(self, user: User, job_id: str) -> Job:
        """A job the user may see (their own; any for reviewers and admins)."""
        job = self._jobs(user).get_job(job_id) if is_uuid(job_id) else None
        if job is None or (job.user_id != user.id and not user.is_reviewer):
            raise NotFound()
        return _as_seen_by(user, job)

    def list_jobs(self, user: User, query: JobQuery, *, all_users: bool = False) -> JobPage:
        """The user's own jobs; every user's (or one chosen user's) for reviewers with
        `all_users`."""
        if all_users:
            if not user.is_reviewer:
                raise Forbidden(
                    "Only reviewers and admins can see every user's jobs.",
                    reason="reviewers_see_all",
                )
        else:
            query = replace(query, user_id=user.id)
        query = replace(query, limit=page_limit(query.limit))
        page = self._jobs(user).list_jobs(query)
        return replace(page, items=[_as_seen_by(user, job) for job in page.items])

    def queue_positions(self, user: User, job_ids: Iterable[str]) -> dict[str, int]:
        ids = [i for i in job_ids if is_uuid(i)]
        return self._jobs(user).queue_positions(ids) if ids else {}

    def cancel(self, user: User, job_id: str) -> Job:
        """Cancel a queued job of one's own (admins: anyone's)."""
        job = self._owned(user, job_id, admin_ok=True)
        if job.status is not JobStatus.QUEUED or not self._jobs(user).cancel(job.id):
            raise Conflict("Only a queued job can be canceled.", reason="cancel_not_queued")
        return self.get_job(user, job.id)

    def retry(self, user: User, job_id: str) -> Job:
        """A new job with the same request as a failed or canceled one; on the named
        replacement model when the job's model has shut down since (the new job's `model`
        shows it)."""
        job = self._owned(user, job_id)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELED):
            raise Conflict(
                "Only a failed or canceled job can be retried.", reason="retry_not_finished"
            )
        return self.submit(user, self.current_request(job.request))[0]

    def delete(self, user: User, job_id: str) -> None:
        """Delete one's own job: its stored files first, then the row."""
        jobs = self._jobs(user)
        job = self._owned(user, job_id, admin_ok=True)
        # Cancel first so that no worker can claim it while its files go; a failed cancel means
        # a worker got there first (or it finished): decide on what it is now.
        if job.status is JobStatus.QUEUED and not jobs.cancel(job.id):
            job = self._owned(user, job.id, admin_ok=True)
        if job.status is JobStatus.PROCESSING:
            raise Conflict(BEING_GENERATED, reason="job_being_generated")
        failed = self.backend.blobs.delete(job_paths(job))
        self._signed_urls.forget(job_paths(job))
        if failed:
            raise Conflict(
                "Could not delete the stored image; try again.", reason="image_not_deleted"
            )
        # The store refuses a processing row, so a claim that slipped in still cannot lose it.
        if not jobs.delete_jobs([job.id]):
            if jobs.get_job(job.id) is None:
                raise NotFound()
            raise Conflict(BEING_GENERATED, reason="job_being_generated")
        inputs.release(self.backend, [job])

    def image_urls(self, user: User, jobs: Iterable[Job], *, thumbs: bool = True) -> dict[str, str]:
        """Signed URLs (one batch call) for the finished jobs in `jobs`, keyed by job id."""
        wanted: dict[str, str] = {}
        for job in jobs:
            if job.user_id != user.id and not user.is_reviewer:
                continue
            path = (job.thumb_path or job.result_path) if thumbs else job.result_path
            if job.status is JobStatus.DONE and path:
                wanted[path] = job.id
        if not wanted:
            return {}
        # The same URL again while it is valid: a redraw downloads and signs nothing new.
        blobs = self.backend.blobs
        urls = self._signed_urls.signed(
            list(wanted), self.settings.signed_url_ttl, blobs.signed_urls, blobs
        )
        return {wanted[path]: url for path, url in urls.items() if path in wanted}

    def image_bytes(
        self, user: User, job_id: str, *, thumb: bool = False
    ) -> tuple[bytes, str, str]:
        """(bytes, mime, download file name) of a finished job's image."""
        job = self.get_job(user, job_id)
        path = (job.thumb_path if thumb else job.result_path) or job.result_path
        if job.status is not JobStatus.DONE or not path:
            raise Conflict("This job has no image yet.", reason="no_image_yet")
        mime = (
            "image/webp"
            if path.endswith(".webp")
            else (job.result_meta.get("mime") or mimetypes.guess_type(path)[0] or "image/png")
        )
        return self.backend.blobs.get(path), mime, download_name(job, path)

    def queue_depth(self) -> QueueDepth:
        return self.backend.jobs.queue_depth()

    def signed_file(self, path: str, exp: int, sig: str) -> bytes:
        """The stored object behind a signed file URL of the local backend: the signature is
        the only credential, and it expires. Forbidden when it is invalid or expired; NotFound
        when there is no such file or this backend serves no such URLs (Supabase's are its
        own)."""
        verify = getattr(self.backend.blobs, "verify_signed_path", None)
        if verify is None:
            raise NotFound("No such file.")
        if not verify(path, exp, sig):
            raise Forbidden("This link is invalid or has expired.")
        try:
            return self.backend.blobs.get(path)
        except (NotFound, ValueError):
            raise NotFound("No such file.") from None

    def storage_problem(self) -> str | None:
        """Why the image storage cannot take writes now (a full disk), or None."""
        return self.backend.storage_problem()

    # ---- live views -------------------------------------------------------------------------

    def change_version(self, user: User) -> int:
        """The user's change counter in this process (core.domain.changes): remember it with
        what you render, then `wait_for_change` for a newer one."""
        return self.backend.changes.version(user.id)

    def wait_for_change(self, user: User, since: int, timeout: float) -> int:
        """Block until one of the user's jobs changed in this process after `since`, or
        `timeout` seconds passed (a worker in another process does not signal: the timeout is
        the fallback poll). Returns the version then."""
        return self.backend.changes.wait(user.id, since, timeout)

    def batch_jobs(self, user: User, batch_id: str) -> list[Job]:
        """The user's jobs of one submitted batch, in submission order: one read (a live view
        of a batch redraws from this, not from a read per job). Empty for a batch id that is not
        a uuid or not theirs."""
        if not is_uuid(batch_id):
            return []
        query = JobQuery(user_id=user.id, batch_id=batch_id, oldest_first=True, limit=MAX_COUNT)
        page = self._jobs(user).list_jobs(query)
        return [_as_seen_by(user, job) for job in page.items if job.user_id == user.id]

    # ---- edit and iterate (issue 11) ------------------------------------------------------

    def submit_iteration(
        self,
        user: User,
        request: JobRequest,
        *,
        images: inputs.Inputs | None = None,
        count: int = 1,
        idempotency_key: str | None = None,
        webhook_url: str | None = None,
    ) -> list[Job]:
        """Queue an edit, variation, reference or compare job with its lineage. `images` are
        outside bytes (an upload, an API client's base64): checked (size, type by content,
        pixel count, mask size, the model's input limit), re-encoded without metadata and
        stored under the user's folder before the jobs are queued. `request.parent_id` names
        the user's own finished job to start from (404 for another's, 409 unfinished); a
        variation takes the parent's prompt and options with a new seed."""
        require_role(user, Role.USER)
        images = images or inputs.Inputs()
        parent = None
        if request.parent_id is not None:
            parent = self._owned(user, request.parent_id)
            if parent.status is not JobStatus.DONE:
                raise Conflict(
                    "That job has no finished image yet; wait for it, then try again.",
                    reason="no_finished_image",
                )
        if request.kind is JobKind.VARIATION:
            if parent is None:
                raise ValidationError(
                    "A variation starts from one of your finished images.",
                    reason="variation_needs_parent",
                )
            params = {k: v for k, v in parent.params.items() if k != "seed"}
            request = replace(
                self.current_request(parent.request),
                kind=JobKind.VARIATION,
                params=params,
                parent_id=parent.id,
                input_path=None,
                mask_path=None,
                reference_paths=(),
            )
        request = self.validate_request(request)
        model = self.provider(request.provider).model(request.model)
        prepared = inputs.prepare(self.backend, user, request, model, images, parent)
        try:
            jobs = self.submit(
                user,
                prepared,
                count=count,
                idempotency_key=idempotency_key,
                webhook_url=webhook_url,
            )
        except Exception:
            # nothing was queued: let go of what this call stored, unless a job uses it
            inputs.release(self.backend, [_placeholder(user, prepared)])
            raise
        # a repeated Idempotency-Key returns the first jobs: only for the same request (the
        # inputs are named by their content, so the same images give the same paths)
        expected = self.validate_request(prepared)
        if idempotency_key is not None and (
            len(jobs) != count or any(job.request != expected for job in jobs)
        ):
            raise Conflict("This Idempotency-Key was already used for a different request.")
        return jobs

    def lineage(self, user: User, job_id: str, *, limit: int = 20) -> list[Job]:
        """The chain a job came from, oldest first, ending with the job itself: each parent
        the user may still see (a deleted parent ends the chain)."""
        chain = [self.get_job(user, job_id)]
        while chain[0].parent_id and len(chain) < limit:
            try:
                chain.insert(0, self.get_job(user, chain[0].parent_id))
            except NotFound:
                break
        return chain

    def submit_comparison(
        self,
        user: User,
        prompt: str,
        pairs: Sequence[tuple[str, str]],
        *,
        idempotency_key: str | None = None,
    ) -> list[Job]:
        """One prompt to several (provider, model) pairs as one batch of `compare` jobs, in
        the order given; each pair with its model's default options. 2 to MAX_COMPARE
        distinct pairs; each is checked like a submission, and nothing is queued unless all
        pass (the batch counts against the rate limit and quota like any other)."""
        require_role(user, Role.USER)
        pairs = list(pairs) if isinstance(pairs, list | tuple) else []
        if not 2 <= len(pairs) <= MAX_COMPARE or len(set(pairs)) != len(pairs):
            raise ValidationError(
                f"Choose 2 to {MAX_COMPARE} different provider and model pairs to compare.",
                reason="compare_pairs",
                params={"max": MAX_COMPARE},
            )
        requests = [
            self.validate_request(
                JobRequest(provider=p, model=m, prompt=prompt, kind=JobKind.COMPARE)
            )
            for p, m in pairs
        ]
        batch_id = str(uuid.uuid4())
        new_jobs = [
            NewJob(
                id=str(uuid.uuid4()),
                user_id=user.id,
                request=request,
                batch_id=batch_id,
                max_attempts=self.settings.max_attempts,
                idempotency_key=idempotency_key,
            )
            for request in requests
        ]
        jobs = self._jobs(user).create_jobs(
            new_jobs,
            rate_limit_per_minute=self.settings.rate_limit_per_minute,
            daily_quota=effective_quota(user, self.settings),
        )
        self._wake_worker()
        return jobs

    def keep_winner(self, user: User, winner_id: str) -> list[str]:
        """Keep one image of a comparison and delete the rest of its batch (files, inputs and
        rows) in one go; the ids deleted. Conflict while one of them is still being made."""
        winner = self._owned(user, winner_id)
        if winner.kind is not JobKind.COMPARE or winner.batch_id is None:
            raise Conflict(
                "Only an image of a comparison can be kept as its winner.",
                reason="keep_not_comparison",
            )
        query = JobQuery(batch_id=winner.batch_id, limit=MAX_COMPARE * 2)
        others = [j for j in self.list_jobs(user, query).items if j.id != winner.id]
        if any(not j.status.finished for j in others):
            raise Conflict(
                "Wait until every image of the comparison is finished.",
                reason="keep_unfinished",
            )
        for job in others:
            self.delete(user, job.id)
        return [job.id for job in others]

    # ---- favourites and selections (issue 12) -------------------------------------------

    def set_starred(self, user: User, job_ids: Sequence[str], starred: bool) -> list[Job]:
        """Star (or unstar) jobs of one's own; returns them as they are now. Every id must be
        one of the user's jobs (another user's, or none: NotFound, and nothing changes), at most
        MAX_SELECTION at once."""
        jobs = self.selected_jobs(user, job_ids)
        if not isinstance(starred, bool):
            raise ValidationError("`starred` must be true or false.", reason="invalid_starred")
        self._jobs(user).set_starred([job.id for job in jobs], starred)
        return [replace(job, starred=starred) for job in jobs]

    def selected_jobs(self, user: User, job_ids: Sequence[str]) -> list[Job]:
        """The user's own jobs named by `job_ids` (distinct, in the order given): a selection
        of the gallery. ValidationError for no ids or more than MAX_SELECTION; NotFound when any
        id is not one of the user's jobs (reviewers and admins too: a selection is one's own)."""
        if isinstance(job_ids, str) or not isinstance(job_ids, Sequence):
            raise ValidationError("Give a list of job ids.", reason="invalid_selection")
        ids = list(dict.fromkeys(job_ids))
        if not ids or len(ids) > MAX_SELECTION:
            raise ValidationError(
                f"Select between 1 and {MAX_SELECTION} jobs.",
                reason="invalid_selection",
                params={"max": MAX_SELECTION},
            )
        store = self._jobs(user)
        jobs: list[Job] = []
        for job_id in ids:
            job = store.get_job(job_id) if is_uuid(job_id) else None
            if job is None or job.user_id != user.id:
                raise NotFound()
            jobs.append(_as_seen_by(user, job))
        return jobs

    def selection_zip(self, user: User, job_ids: Sequence[str]) -> IO[bytes]:
        """One zip of the images of one's own selected jobs (core.services.selection): a
        rewound spooled file, at most selection.ZIP_CAP_BYTES of images (Conflict past it)."""
        jobs = self.selected_jobs(user, job_ids)
        return selection.write_zip(self.backend.blobs, jobs)

    def check_selection_zip(self, user: User, job_ids: Sequence[str]) -> tuple[int, int]:
        """(images, bytes) the zip of this selection would hold; the Conflict `selection_zip`
        would raise (nothing to zip, past the cap) before any image is read."""
        images, total = selection.check_zip(self.backend.blobs, self.selected_jobs(user, job_ids))
        return len(images), total

    def delete_selected(self, user: User, job_ids: Sequence[str]) -> selection.Deleted:
        """Delete one's own selected jobs together (each as `delete` does); a job that cannot
        go (being generated) stays, with the reason, and the others still go. Any id not the
        user's: NotFound before anything is deleted."""
        jobs = self.selected_jobs(user, job_ids)
        return selection.delete_each(jobs, lambda job_id: self.delete(user, job_id))

    # ---- helpers --------------------------------------------------------------------------

    def _jobs(self, user: User) -> JobStore:
        return user_jobs(self.backend, user)

    def _owned(self, user: User, job_id: str, *, admin_ok: bool = False) -> Job:
        job = self.get_job(user, job_id)
        if job.user_id != user.id and not (admin_ok and user.is_admin):
            raise NotFound()
        return job


def _as_seen_by(user: User, job: Job) -> Job:
    """Owners see their job's review status, not who reviewed it or the internal note."""
    if user.is_reviewer or (job.reviewed_by is None and job.review_note is None):
        return job
    return replace(job, reviewed_by=None, review_note=None)


def batch_member(request: JobRequest, index: int) -> JobRequest:
    """The request of the `index`-th image of a batch: with a seed, image i uses seed + i
    (wrapping past SEED_MAX to 0), so a batch of four is four different pictures and each one
    can be made again from its own seed."""
    seed = request.params.get("seed")
    if index == 0 or not isinstance(seed, int) or isinstance(seed, bool):
        return request
    return replace(request, params={**request.params, "seed": (seed + index) % (SEED_MAX + 1)})


def download_name(job: Job, path: str) -> str:
    ext = path.rsplit(".", 1)[-1] if "." in path else "png"
    return f"{job.provider}-{job.id[:8]}.{ext}"


def _placeholder(user: User, request: JobRequest) -> Job:
    """A job-shaped record of a request's stored inputs (for letting them go)."""
    now = datetime.now(UTC)
    return Job(
        id=str(uuid.uuid4()),
        user_id=user.id,
        provider=request.provider,
        model=request.model,
        kind=request.kind,
        prompt=request.prompt,
        params={},
        status=JobStatus.CANCELED,
        attempts=0,
        max_attempts=1,
        created_at=now,
        updated_at=now,
        run_after=now,
        input_path=request.input_path,
        mask_path=request.mask_path,
        reference_paths=request.reference_paths,
    )
