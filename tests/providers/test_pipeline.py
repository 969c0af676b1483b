"""End to end through the real pipeline: settings → build_providers → the services → Worker →
local backend, with each real adapter pointed at its local fake server."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from core.backends import open_backend
from core.domain.models import Job, JobKind, JobRequest, JobStatus, User
from core.domain.paths import result_paths
from core.domain.recipe import embed_recipe, job_recipe, read_recipe
from core.domain.settings import Settings
from core.ports import Backend
from core.providers import build_providers
from core.providers.base import MAX_RETRY_AFTER_SECONDS
from core.queue.worker import Worker
from core.services import Services, build_services
from tests.fakes import gemini_server, ideogram_server, openai_server
from tests.fakes.gemini_server import (
    FakeGemini,
    google_error,
    image_part,
    prompt_blocked,
    quota_error,
    reply_with_parts,
)
from tests.fakes.http_server import FakeServer, Reply, make_png
from tests.fakes.ideogram_server import FakeIdeogram, ideogram_error
from tests.fakes.openai_server import FakeOpenAI, moderation_blocked, openai_error


@dataclass
class Deployment:
    backend: Backend
    services: Services
    user: User
    fakes: dict[str, FakeServer]

    def submit(self, provider: str, model: str, **params: object) -> Job:
        request = JobRequest(provider=provider, model=model, prompt="a lighthouse", params=params)
        return self.services.jobs.submit(self.user, request)[0]

    def wait(self, job_id: str, timeout: float = 15) -> Job:
        deadline = time.monotonic() + timeout
        while True:
            job = self.services.jobs.get_job(self.user, job_id)
            if job.status.finished:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job still {job.status.value} after {timeout}s")
            time.sleep(0.02)


@pytest.fixture(scope="module")
def shared_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """One deployment for the module (accounts are slow to create); tests reset the fakes."""
    settings = Settings.load(env={}, secrets_path=None)
    fakes: dict[str, FakeServer] = {
        "openai": FakeOpenAI().start(),
        "gemini": FakeGemini().start(),
        "ideogram": FakeIdeogram().start(),
    }
    settings = replace(
        settings.with_variables(
            OPENAI_API_KEY=openai_server.API_KEY,
            OPENAI_BASE_URL=fakes["openai"].base_url,  # type: ignore[attr-defined]
            GEMINI_API_KEY=gemini_server.API_KEY,
            GEMINI_BASE_URL=fakes["gemini"].url,
            IDEOGRAM_API_KEY=ideogram_server.API_KEY,
            IDEOGRAM_BASE_URL=fakes["ideogram"].url,
        ),
        data_dir=tmp_path_factory.mktemp("pipeline") / "data",
        worker_poll_seconds=0.05,
        rate_limit_per_minute=1000,
    )
    backend = open_backend(settings)
    services = build_services(backend, build_providers(settings), settings)
    services.accounts.sign_up("admin@example.com", "admin-password")
    user = services.accounts.sign_up("painter@example.com", "painter-password").user
    worker = Worker(backend, services.jobs.providers, settings, backoff_base=0.01, backoff_cap=0.05)
    worker.start()
    services.jobs.set_wake_worker(worker.wake)
    try:
        yield Deployment(backend, services, user, fakes)
    finally:
        worker.stop(0)
        backend.close()
        for fake in fakes.values():
            fake.stop()


@pytest.fixture
def deployment(shared_deployment: Deployment) -> Deployment:
    for fake in shared_deployment.fakes.values():
        fake.reset()
    return shared_deployment


CASES = {
    "openai": ("gpt-image-2", {"aspect_ratio": "3:2", "quality": "standard"}),
    "gemini": ("gemini-nano-banana-2.1", {"aspect_ratio": "16:9", "image_size": "1K"}),
    "ideogram": ("ideogram-3.0", {"aspect_ratio": "4:3", "quality": "draft", "seed": 9}),
}


def _calls(deployment: Deployment, provider: str) -> int:
    path = {
        "openai": "/images/generations",
        "gemini": ":generateContent",
        "ideogram": "/ideogram-v3/generate",
    }
    return len(deployment.fakes[provider].calls(path[provider]))


@pytest.mark.parametrize("provider", list(CASES))
def test_a_job_reaches_done_with_the_providers_image_stored(
    deployment: Deployment, provider: str
) -> None:
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.DONE, job.error_message
    data, mime, _ = deployment.services.jobs.image_bytes(deployment.user, job.id)
    assert data == as_stored(job, deployment.fakes[provider].image, "image/png")  # type: ignore[attr-defined]
    recipe = read_recipe(data)
    assert recipe is not None and recipe.job_id == job.id and recipe.provider == provider
    assert mime == "image/png" and job.result_meta["mime"] == "image/png"
    assert job.result_meta["model"] == model
    assert job.thumb_path and job.attempts == 1
    assert _calls(deployment, provider) == 1


TRANSIENT: dict[str, Callable[[], Reply]] = {
    "openai": lambda: openai_error(503, "The engine is currently overloaded.", type="server_error"),
    "gemini": lambda: google_error(503, "UNAVAILABLE", "The model is overloaded."),
    "ideogram": lambda: ideogram_error(503, "Service unavailable"),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_a_transient_503_is_retried_and_the_job_completes(
    deployment: Deployment, provider: str
) -> None:
    deployment.fakes[provider].enqueue(TRANSIENT[provider]())
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.DONE, job.error_message
    assert job.attempts == 2
    assert _calls(deployment, provider) == 2


SAFETY: dict[str, tuple[Callable[[], Reply], str]] = {
    "openai": (moderation_blocked, "safety system"),
    "gemini": (lambda: prompt_blocked("SAFETY"), "blocked this prompt"),
    "ideogram": (lambda: ideogram_error(422, "Prompt failed the safety check"), "safety check"),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_a_safety_block_fails_at_once_with_a_plain_reason(
    deployment: Deployment, provider: str
) -> None:
    reply, words = SAFETY[provider]
    deployment.fakes[provider].enqueue(reply())
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.FAILED
    assert job.error_code == "safety_blocked"
    assert words in (job.error_message or "")
    assert "Traceback" not in (job.error_message or "")
    assert job.attempts == 1
    assert _calls(deployment, provider) == 1


@pytest.mark.parametrize("provider", list(CASES))
def test_concurrent_jobs_share_one_client_and_all_complete(
    deployment: Deployment, provider: str
) -> None:
    model, params = CASES[provider]
    request = JobRequest(provider=provider, model=model, prompt="a harbour", params=params)
    jobs = deployment.services.jobs.submit(deployment.user, request, count=3)

    finished = [deployment.wait(job.id) for job in jobs]

    assert [j.status for j in finished] == [JobStatus.DONE] * 3
    assert _calls(deployment, provider) == 3


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_an_edit_job_sends_the_stored_source_image_and_completes(
    deployment: Deployment, provider: str
) -> None:
    source = make_png(12, 8, seed=21)
    source_path = f"{deployment.user.id}/source-{provider}.png"
    deployment.backend.blobs.put(source_path, source, "image/png")
    model, params = CASES[provider]
    request = JobRequest(
        provider=provider,
        model=model,
        prompt="make it snow",
        params=params,
        kind=JobKind.EDIT,
        input_path=source_path,
    )
    job = deployment.wait(deployment.services.jobs.submit(deployment.user, request)[0].id)

    assert job.status is JobStatus.DONE, job.error_message
    fake = deployment.fakes[provider]
    if provider == "openai":
        [call] = fake.calls("/v1/images/edits")
        assert call.files()["image"][2] == source
    else:
        [call] = fake.calls(":generateContent")
        assert FakeGemini.inline_images(call) == [source]


def _image_reply(provider: str, data: bytes) -> Reply:
    """A well-formed success reply of `provider` carrying `data` as its image."""
    if provider == "openai":
        return Reply(200, {"created": 0, "data": [{"b64_json": base64.b64encode(data).decode()}]})
    return reply_with_parts([image_part(data)])


@pytest.mark.parametrize("garbage", ["truncated png", "not an image"])
@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_garbage_image_bytes_from_a_provider_never_end_as_a_done_job(
    deployment: Deployment, provider: str, garbage: str
) -> None:
    good = deployment.fakes[provider].image  # type: ignore[attr-defined]
    data = good[: len(good) // 2] if garbage == "truncated png" else b"<html>oops</html>"
    deployment.fakes[provider].enqueue(*[_image_reply(provider, data)] * 10)  # every attempt
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.FAILED
    assert job.attempts == job.max_attempts == _calls(deployment, provider)
    assert "image" in (job.error_message or "")
    assert job.result_path is None and job.thumb_path is None
    paths = {p for ext in ("png", "jpg", "webp", "gif") for p in result_paths(job, ext)}
    assert all(deployment.backend.blobs.size(path) is None for path in paths)


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_a_garbage_image_is_retried_and_the_next_good_one_is_stored_with_its_real_size(
    deployment: Deployment, provider: str
) -> None:
    good = deployment.fakes[provider].image  # type: ignore[attr-defined]
    deployment.fakes[provider].enqueue(_image_reply(provider, good[: len(good) // 2]))
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.DONE, job.error_message
    assert job.attempts == 2
    data, _mime, _name = deployment.services.jobs.image_bytes(deployment.user, job.id)
    assert data == as_stored(job, good, "image/png")
    size = {"openai": (24, 16), "gemini": (20, 20)}[provider]
    assert (job.result_meta["width"], job.result_meta["height"]) == size
    assert job.result_meta["bytes"] == len(data)


def as_stored(job: Job, provider_bytes: bytes, mime: str) -> bytes:
    """What the studio stores for a provider's image: exactly its bytes with the job's recipe
    inserted (core.domain.recipe; its own tests check that no provider byte changes)."""
    return embed_recipe(provider_bytes, mime, job_recipe(job))


def _encoded(fmt: str) -> bytes:
    """A real image in `fmt` (PNG, JPEG or WEBP) made with Pillow."""
    picture = Image.open(io.BytesIO(make_png(20, 12, seed=31))).convert("RGB")
    out = io.BytesIO()
    picture.save(out, format=fmt)
    return out.getvalue()


def _enqueue_image(deployment: Deployment, provider: str, data: bytes, mime: str) -> None:
    """Make `provider`'s next success carry `data` (declared as `mime`)."""
    fake = deployment.fakes[provider]
    if provider == "openai":
        body = {
            "created": 0,
            "output_format": mime.removeprefix("image/"),
            "data": [{"b64_json": base64.b64encode(data).decode()}],
        }
        fake.enqueue(Reply(200, body, {"x-request-id": "req_fmt"}))
    elif provider == "gemini":
        fake.enqueue(reply_with_parts([image_part(data, mime)]))
    else:
        fake.download_replies.append(Reply(200, data, {"Content-Type": mime}))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fmt", "mime", "ext"),
    [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")],
)
@pytest.mark.parametrize("provider", list(CASES))
def test_png_jpeg_and_webp_results_are_stored_byte_for_byte_with_their_type(
    deployment: Deployment, provider: str, fmt: str, mime: str, ext: str
) -> None:
    data = _encoded(fmt)
    _enqueue_image(deployment, provider, data, mime)
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.DONE, job.error_message
    stored, stored_mime, _name = deployment.services.jobs.image_bytes(deployment.user, job.id)
    assert stored == as_stored(job, data, mime)
    assert read_recipe(stored) == job_recipe(job)
    assert stored_mime == job.result_meta["mime"] == mime
    assert job.result_path and job.result_path.endswith(f".{ext}")
    assert (job.result_meta["width"], job.result_meta["height"]) == (20, 12)
    assert _calls(deployment, provider) == 1


RATE_LIMITED: dict[str, Callable[[], Reply]] = {
    "openai": lambda: openai_error(
        429,
        "Rate limit reached for gpt-image-2 on images per minute.",
        code="rate_limit_exceeded",
        type="requests",
        headers={"Retry-After": "40"},
    ),
    "gemini": lambda: quota_error("GenerateRequestsPerMinutePerProjectPerModel", "40s"),
    "ideogram": lambda: Reply(429, {"error": "Too many requests in flight"}, {"Retry-After": "40"}),
}


def _wait_requeued(deployment: Deployment, job_id: str, timeout: float = 15) -> Job:
    """The job once it is back in the queue after its first failed attempt."""
    deadline = time.monotonic() + timeout
    while True:
        job = deployment.services.jobs.get_job(deployment.user, job_id)
        if job.status is JobStatus.QUEUED and job.attempts == 1:
            return job
        assert not job.status.finished, f"the job ended {job.status.value}: {job.error_message}"
        assert time.monotonic() < deadline, f"job still {job.status.value} after {timeout}s"
        time.sleep(0.02)


@pytest.mark.parametrize("provider", list(CASES))
def test_a_rate_limit_requeues_the_job_after_exactly_the_providers_retry_after(
    deployment: Deployment, provider: str
) -> None:
    # The worker's own backoff here is at most 0.05 s, so a 40 s wait can only come from the
    # provider's Retry-After (OpenAI, Ideogram) or RetryInfo.retryDelay (Gemini).
    deployment.fakes[provider].enqueue(RATE_LIMITED[provider]())
    model, params = CASES[provider]
    before = datetime.now(UTC)
    job = deployment.submit(provider, model, **params)
    requeued = _wait_requeued(deployment, job.id)
    after = datetime.now(UTC)

    assert requeued.error_code == "transient"
    assert requeued.error_message and "Traceback" not in requeued.error_message
    assert before + timedelta(seconds=40) <= requeued.run_after <= after + timedelta(seconds=40)
    time.sleep(0.3)  # several worker polls: nobody retries before run_after
    assert _calls(deployment, provider) == 1
    assert deployment.services.jobs.get_job(deployment.user, job.id).status is JobStatus.QUEUED
    deployment.services.jobs.cancel(deployment.user, job.id)  # keep the shared worker idle


ABSURD_RETRY_AFTER: dict[str, Callable[[], Reply]] = {
    "openai": lambda: openai_error(
        429,
        "Rate limit reached for gpt-image-2 on images per minute.",
        code="rate_limit_exceeded",
        type="requests",
        headers={"Retry-After": "99999999999999"},
    ),
    "gemini": lambda: quota_error("GenerateRequestsPerMinutePerProjectPerModel", "99999999999999s"),
    # The HTTP-date form, at the end of the calendar: 8,000 years away.
    "ideogram": lambda: Reply(
        429,
        {"error": "Too many requests in flight"},
        {"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"},
    ),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_an_absurd_retry_after_is_cut_to_the_maximum_and_the_job_requeued_at_once(
    deployment: Deployment, provider: str
) -> None:
    # Such a wait once overflowed the retry time: the error was swallowed and the job sat in
    # `processing`, holding a worker slot until its lease ran out.
    deployment.fakes[provider].enqueue(ABSURD_RETRY_AFTER[provider]())
    model, params = CASES[provider]
    before = datetime.now(UTC)
    job = deployment.submit(provider, model, **params)
    requeued = _wait_requeued(deployment, job.id, timeout=5)
    after = datetime.now(UTC)

    assert requeued.error_code == "transient" and requeued.lease_owner is None
    cap = timedelta(seconds=MAX_RETRY_AFTER_SECONDS)
    assert before + cap <= requeued.run_after <= after + cap
    deployment.services.jobs.cancel(deployment.user, job.id)  # keep the shared worker idle


QUOTA: dict[str, tuple[Callable[[], Reply], str]] = {
    "openai": (
        lambda: openai_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            code="insufficient_quota",
            type="insufficient_quota",
        ),
        "quota",
    ),
    "gemini": (lambda: quota_error("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), "daily"),
    "ideogram": (
        lambda: ideogram_error(402, "Payment required", reject_reason="insufficient_funds"),
        "balance",
    ),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_an_exhausted_quota_fails_the_job_at_once_without_a_retry(
    deployment: Deployment, provider: str
) -> None:
    reply, words = QUOTA[provider]
    deployment.fakes[provider].enqueue(reply())
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.FAILED
    assert job.error_code == "quota_exhausted"
    assert words in (job.error_message or "").lower()
    assert "Gave up" not in (job.error_message or "")
    assert job.attempts == 1
    time.sleep(0.2)
    assert _calls(deployment, provider) == 1


@pytest.mark.parametrize("provider", ["openai", "gemini"])
def test_an_oversized_image_never_ends_as_a_done_job(deployment: Deployment, provider: str) -> None:
    # 8200 x 8200 = 67 megapixels (over the 64 MP cap) in an 8 KB 1-bit PNG: checked from the
    # header before anything is decoded. (Ideogram's download cap has its own tests.)
    out = io.BytesIO()
    Image.new("1", (8200, 8200)).save(out, format="PNG")
    deployment.fakes[provider].enqueue(*[_image_reply(provider, out.getvalue())] * 10)
    model, params = CASES[provider]
    job = deployment.wait(deployment.submit(provider, model, **params).id)

    assert job.status is JobStatus.FAILED
    assert job.attempts == job.max_attempts == _calls(deployment, provider)
    assert "image" in (job.error_message or "")
    assert job.result_path is None and job.thumb_path is None
    paths = {p for ext in ("png", "jpg", "webp", "gif") for p in result_paths(job, ext)}
    assert all(deployment.backend.blobs.size(path) is None for path in paths)
