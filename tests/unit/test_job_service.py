"""JobsService on the real local backend: validation, rate limit, idempotency, the job
actions, and ownership (someone else's job looks exactly like a missing one)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace

import pytest

from core.domain.errors import Conflict, NotFound, RateLimited, ValidationError
from core.domain.models import JobKind, JobQuery, JobRequest, JobStatus, Role
from core.domain.settings import Settings
from core.providers.base import SEED_MAX, SafetyBlocked
from core.services.jobs import JobsService
from tests.unit.conftest import Studio, make_studio


def request(prompt: str = "a quiet harbour", **kw: object) -> JobRequest:
    return JobRequest(
        provider=str(kw.pop("provider", "demo")),
        model=str(kw.pop("model", "demo-pattern")),
        prompt=prompt,
        params=kw.pop("params", {}),  # type: ignore[arg-type]
    )


def count_jobs(studio: Studio) -> int:
    return len(studio.backend.jobs.list_jobs(JobQuery(limit=100)).items)


@pytest.mark.parametrize(
    ("req", "count", "message"),
    [
        (request(""), 1, "cannot be empty"),
        (request("   \n "), 1, "cannot be empty"),
        (request("x" * 4001), 1, "4,001 characters"),
        (request(provider="dalle"), 1, "Unknown provider 'dalle'"),
        (request(model="demo-imaginary"), 1, "Unknown Demo (offline, no AI) model"),
        (request(params={"background": "transparent"}), 1, "does not support the option"),
        (request(params={"aspect_ratio": "21:9"}), 1, "choose one of: 1:1"),
        (request(params={"quality": "max"}), 1, "quality 'max' is not available"),
        (request(params={"seed": -1}), 1, "seed must be a whole number"),
        (request(params={"seed": SEED_MAX + 1}), 1, "seed must be a whole number"),
        (request(params={"seed": "42"}), 1, "seed must be a whole number"),
        (request(params={"seed": True}), 1, "seed must be a whole number"),
        (request(params={"seed": 1.5}), 1, "seed must be a whole number"),
        (request(), 0, "between 1 and 4"),
        (request(), 5, "between 1 and 4"),
    ],
)
def test_invalid_submissions_are_refused_clearly_and_create_nothing(
    studio: Studio, req: JobRequest, count: int, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        studio.services.jobs.submit(studio.alice, req, count=count)
    assert message in caught.value.message
    assert count_jobs(studio) == 0


def test_a_valid_submission_is_queued_with_cleaned_params_and_the_default_model(
    studio: Studio,
) -> None:
    req = JobRequest(
        provider="demo",
        model="",
        prompt="  a quiet harbour  ",
        params={"seed": 0, "negative_prompt": "  ", "style": "rings", "quality": None},
    )
    jobs = studio.services.jobs.submit(studio.alice, req, count=3)
    assert len(jobs) == 3 and len({j.batch_id for j in jobs}) == 1
    job = jobs[0]
    assert (job.status, job.model, job.prompt) == (
        JobStatus.QUEUED,
        "demo-pattern",
        "a quiet harbour",
    )
    assert job.params == {"seed": 0, "style": "rings"}
    assert job.user_id == studio.alice.id and job.attempts == 0


def test_a_batch_with_a_seed_uses_seed_plus_index_for_each_image(studio: Studio) -> None:
    jobs = studio.services.jobs.submit(studio.alice, request(params={"seed": 41}), count=4)
    assert [j.params["seed"] for j in jobs] == [41, 42, 43, 44]
    # Past the largest seed it wraps to 0; the pictures differ, as the seeds do.
    near_max = request(params={"seed": SEED_MAX - 1})
    assert [
        j.params["seed"] for j in studio.services.jobs.submit(studio.alice, near_max, count=3)
    ] == [
        SEED_MAX - 1,
        SEED_MAX,
        0,
    ]
    # Without a seed the jobs carry none (the provider picks, differently per image).
    assert all(
        "seed" not in j.params
        for j in studio.services.jobs.submit(studio.alice, request(), count=2)
    )


def test_a_seeded_batch_draws_different_demo_pictures(studio: Studio) -> None:
    jobs = studio.services.jobs.submit(studio.alice, request(params={"seed": 7}), count=2)
    studio.worker()
    studio.wait_for([j.id for j in jobs])
    images = [studio.services.jobs.image_bytes(studio.alice, j.id)[0] for j in jobs]
    assert images[0] != images[1]


def test_the_rate_limit_allows_exactly_30_a_minute_then_says_how_long_to_wait(
    settings: Settings,
) -> None:
    with make_studio(replace(settings, rate_limit_per_minute=30)) as studio:
        for _ in range(7):
            studio.services.jobs.submit(studio.alice, request(), count=4)
        studio.services.jobs.submit(studio.alice, request(), count=2)  # 30 in the window
        with pytest.raises(RateLimited) as caught:
            studio.services.jobs.submit(studio.alice, request())
        error = caught.value
        assert error.http_status == 429 and error.code == "rate_limited"
        assert re.fullmatch(
            r"You can submit 30 images a minute\. Try again in \d+ s\.", error.message
        )
        assert 1 <= error.retry_after <= 60
        assert str(error.retry_after) in error.message
        assert count_jobs(studio) == 30
        # The limit is per person: Bob is unaffected.
        studio.services.jobs.submit(studio.bob, request())


def test_an_idempotency_key_returns_the_first_batch_without_charging_the_rate_limit(
    settings: Settings,
) -> None:
    with make_studio(replace(settings, rate_limit_per_minute=4)) as studio:
        first = studio.services.jobs.submit(studio.alice, request(), count=4, idempotency_key="k-1")
        again = studio.services.jobs.submit(studio.alice, request(), count=4, idempotency_key="k-1")
        assert [j.id for j in again] == [j.id for j in first]
        assert count_jobs(studio) == 4
        # Bob's identical key is his own.
        bobs = studio.services.jobs.submit(studio.bob, request(), idempotency_key="k-1")
        assert bobs[0].id not in {j.id for j in first}
        with pytest.raises(ValidationError):
            studio.services.jobs.submit(studio.alice, request(), idempotency_key="  ")


def test_cancel_a_queued_job_but_not_a_finished_one(studio: Studio) -> None:
    job = studio.services.jobs.submit(studio.alice, request())[0]
    canceled = studio.services.jobs.cancel(studio.alice, job.id)
    assert canceled.status is JobStatus.CANCELED
    with pytest.raises(Conflict, match="Only a queued job can be canceled"):
        studio.services.jobs.cancel(studio.alice, job.id)


def test_retry_makes_a_new_job_with_the_same_request_only_for_failed_or_canceled(
    studio: Studio,
) -> None:
    studio.fake.fail_with = [SafetyBlocked("Blocked.")]
    studio.worker()
    job = studio.submit("try me", params={"seed": 9, "quality": "draft"})
    (failed,) = studio.wait_for([job.id])
    assert failed.status is JobStatus.FAILED
    retried = studio.services.jobs.retry(studio.alice, job.id)
    assert retried.id != job.id and retried.request == job.request
    (done,) = studio.wait_for([retried.id])
    assert done.status is JobStatus.DONE
    with pytest.raises(Conflict, match="Only a failed or canceled job can be retried"):
        studio.services.jobs.retry(studio.alice, done.id)


def test_delete_removes_the_stored_files_and_the_row(studio: Studio) -> None:
    studio.worker()
    job = studio.submit("to be deleted")
    (done,) = studio.wait_for([job.id])
    blobs = studio.backend.blobs
    assert blobs.size(done.result_path) and blobs.size(done.thumb_path)
    studio.services.jobs.delete(studio.alice, job.id)
    assert blobs.size(done.result_path) is None and blobs.size(done.thumb_path) is None
    assert studio.backend.jobs.get_job(job.id) is None
    with pytest.raises(NotFound):
        studio.services.jobs.get_job(studio.alice, job.id)


def test_a_queued_job_can_be_deleted_but_a_processing_one_cannot(studio: Studio) -> None:
    queued = studio.services.jobs.submit(studio.alice, request())[0]
    studio.services.jobs.delete(studio.alice, queued.id)
    assert studio.backend.jobs.get_job(queued.id) is None
    running = studio.services.jobs.submit(studio.alice, request())[0]
    assert studio.backend.jobs.claim("w", 60, 3) is not None
    with pytest.raises(Conflict, match="being generated"):
        studio.services.jobs.delete(studio.alice, running.id)
    assert studio.backend.jobs.get_job(running.id) is not None


def test_image_bytes_of_a_finished_job(studio: Studio) -> None:
    studio.worker()
    job = studio.submit("download me")
    studio.wait_for([job.id])
    data, mime, name = studio.services.jobs.image_bytes(studio.alice, job.id)
    assert data.startswith(b"\x89PNG") and mime == "image/png"
    assert name == f"fake-{job.id[:8]}.png"
    thumb, thumb_mime, _ = studio.services.jobs.image_bytes(studio.alice, job.id, thumb=True)
    assert thumb[8:12] == b"WEBP" and thumb_mime == "image/webp"


def _not_found_message(action) -> str:
    with pytest.raises(NotFound) as caught:
        action()
    return caught.value.message


@pytest.mark.parametrize("status", ["queued", "failed", "done"])
def test_another_users_job_behaves_exactly_like_a_missing_one(studio: Studio, status: str) -> None:
    if status == "failed":
        studio.fake.fail_with = [SafetyBlocked("Blocked.")]
    job = studio.submit("alice's secret")
    if status != "queued":
        worker = studio.worker()
        studio.wait_for([job.id])
        worker.stop(0)
    assert studio.job(job.id).status.value == status
    service, bob = studio.services.jobs, studio.bob
    for job_id in (job.id, str(uuid.uuid4()), "not-a-uuid"):
        messages = {
            _not_found_message(lambda i=job_id: service.get_job(bob, i)),
            _not_found_message(lambda i=job_id: service.cancel(bob, i)),
            _not_found_message(lambda i=job_id: service.retry(bob, i)),
            _not_found_message(lambda i=job_id: service.delete(bob, i)),
            _not_found_message(lambda i=job_id: service.image_bytes(bob, i)),
        }
        assert messages == {"No such job."}
    after = studio.job(job.id)
    assert after.status.value == status  # nothing changed
    assert service.get_job(studio.alice, job.id).id == job.id


class _ClaimedDuringCancel:
    """The job store, with a worker that claims every job just before a cancel reaches the
    store: the race between delete()'s read and its cancel, made certain."""

    def __init__(self, jobs: object, worker_owner: str) -> None:
        self._jobs = jobs
        self._owner = worker_owner

    def __getattr__(self, name: str) -> object:
        return getattr(self._jobs, name)

    def cancel(self, job_id: str) -> bool:
        claimed = self._jobs.claim(self._owner, 60, 3)  # type: ignore[attr-defined]
        assert claimed is not None and claimed.id == job_id
        return self._jobs.cancel(job_id)  # type: ignore[attr-defined]


def test_delete_of_a_job_a_worker_claims_between_read_and_cancel_is_refused_and_keeps_it(
    studio: Studio,
) -> None:
    racing = replace(studio.backend, jobs=_ClaimedDuringCancel(studio.backend.jobs, "w"))
    service = JobsService(racing, studio.services.jobs.providers, studio.settings)  # type: ignore[arg-type]
    job = studio.services.jobs.submit(studio.alice, request())[0]
    with pytest.raises(Conflict, match="being generated"):
        service.delete(studio.alice, job.id)
    kept = studio.job(job.id)
    assert (kept.status, kept.lease_owner) == (JobStatus.PROCESSING, "w")


def test_delete_says_not_found_when_the_row_went_meanwhile(studio: Studio) -> None:
    class GoneBeforeDelete:
        def __init__(self, jobs: object) -> None:
            self._jobs = jobs

        def __getattr__(self, name: str) -> object:
            return getattr(self._jobs, name)

        def delete_jobs(self, job_ids: list[str]) -> int:
            self._jobs.delete_jobs(job_ids)  # type: ignore[attr-defined]  # another tab won
            return self._jobs.delete_jobs(job_ids)  # type: ignore[attr-defined]

    racing = replace(studio.backend, jobs=GoneBeforeDelete(studio.backend.jobs))
    service = JobsService(racing, studio.services.jobs.providers, studio.settings)  # type: ignore[arg-type]
    job = studio.services.jobs.submit(studio.alice, request())[0]
    with pytest.raises(NotFound):
        service.delete(studio.alice, job.id)


def test_an_admin_can_cancel_another_users_queued_job_but_a_reviewer_cannot(
    studio: Studio,
) -> None:
    job = studio.services.jobs.submit(studio.alice, request())[0]
    reviewer = replace(studio.bob, role=Role.REVIEWER)
    with pytest.raises(NotFound):
        studio.services.jobs.cancel(reviewer, job.id)
    admin = replace(studio.bob, role=Role.ADMIN)
    assert studio.services.jobs.cancel(admin, job.id).status is JobStatus.CANCELED


def _edit(input_path: str | None) -> JobRequest:
    return JobRequest(
        provider="demo",
        model="demo-poster",
        prompt="frame it",
        kind=JobKind.EDIT,
        input_path=input_path,
    )


@pytest.mark.parametrize(
    "path",
    [
        None,
        "",
        "{bob}/uploads/source.png",
        "{alice}/../{bob}/uploads/source.png",
        "{alice}/uploads/../../{bob}/source.png",
        "{alice}",
        "uploads/{alice}/source.png",
    ],
)
def test_an_edit_must_name_a_source_in_the_users_own_folder(studio: Studio, path: str) -> None:
    if path is not None:
        path = path.format(alice=studio.alice.id, bob=studio.bob.id)
    with pytest.raises(ValidationError, match="your own uploaded images"):
        studio.services.jobs.submit(studio.alice, _edit(path))
    assert count_jobs(studio) == 0


def test_an_edit_of_the_users_own_upload_is_queued(studio: Studio) -> None:
    path = f"{studio.alice.id}/uploads/source.png"
    job = studio.services.jobs.submit(studio.alice, _edit(path))[0]
    assert (job.kind, job.input_path) == (JobKind.EDIT, path)


def test_delete_also_removes_files_an_attempt_wrote_but_never_recorded(studio: Studio) -> None:
    # A worker stored the image (any type) and thumbnail, then died before `finish`: the row
    # names no file, yet deleting the job must not leave them behind.
    job = studio.services.jobs.submit(studio.alice, request())[0]
    blobs = studio.backend.blobs
    left = [
        f"{studio.alice.id}/{job.id}.jpg",
        f"{studio.alice.id}/{job.id}.webp",
        f"{studio.alice.id}/{job.id}.thumb.webp",
    ]
    for path in left:
        blobs.put(path, b"bytes", "image/webp")
    other = f"{studio.alice.id}/{uuid.uuid4()}.png"  # another job's file stays
    blobs.put(other, b"bytes", "image/png")
    assert studio.backend.jobs.cancel(job.id)
    studio.services.jobs.delete(studio.alice, job.id)
    assert [blobs.size(p) for p in left] == [None, None, None]
    assert blobs.size(other) == 5
