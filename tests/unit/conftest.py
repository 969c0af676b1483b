"""Unit-tier fixtures: a real local backend in a temp dir, the demo provider, and a `fake`
provider (a demo subclass) that counts concurrent calls and can be scripted to fail."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pytest

from core.backends import open_backend
from core.domain.models import Job, JobRequest, JobStatus, User
from core.domain.settings import Settings
from core.ports import Backend
from core.providers.base import GeneratedImage, GenerationRequest, ModelInfo
from core.providers.demo import DemoProvider
from core.queue.worker import Worker
from core.services import Services, build_services
from tests.waiting import wait_until


class FakeProvider(DemoProvider):
    """The demo drawing behind a provider that records what happens to it: calls, the peak of
    calls in flight, and scripted failures (`fail_with`: errors raised by the next calls)."""

    name: ClassVar[str] = "fake"
    label: ClassVar[str] = "Fake (tests)"
    models: ClassVar[tuple[ModelInfo, ...]] = DemoProvider.models

    def __init__(self, *, latency_ms: int = 0) -> None:
        super().__init__(latency_ms=0)
        self.delay = latency_ms / 1000
        self.fail_with: list[BaseException] = []
        self.gate: threading.Event | None = None  # when set up, calls block until it is set
        self.calls = 0
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            error = self.fail_with.pop(0) if self.fail_with else None
        try:
            if self.gate is not None:
                self.gate.wait(10)
            if self.delay:
                time.sleep(self.delay)
            if error is not None:
                raise error
            return super().generate(req)
        finally:
            with self._lock:
                self.in_flight -= 1


@dataclass
class Studio:
    """One isolated deployment: settings, backend, providers, services and people."""

    settings: Settings
    backend: Backend
    services: Services
    fake: FakeProvider
    alice: User
    bob: User
    workers: list[Worker]

    def worker(self, **kwargs: object) -> Worker:
        """A started worker, stopped at teardown. Tiny backoff keeps retry tests fast."""
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_cap", 0.05)
        worker = Worker(self.backend, self.services.jobs.providers, self.settings, **kwargs)  # type: ignore[arg-type]
        worker.start()
        self.workers.append(worker)
        self.services.jobs.set_wake_worker(worker.wake)
        return worker

    def submit(
        self, prompt: str = "a lighthouse", *, user: User | None = None, **kw: object
    ) -> Job:
        provider = str(kw.pop("provider", "fake"))
        model = str(kw.pop("model", "demo-pattern"))
        params = kw.pop("params", {"quality": "draft"})
        request = JobRequest(provider=provider, model=model, prompt=prompt, params=params)  # type: ignore[arg-type]
        return self.services.jobs.submit(user or self.alice, request, **kw)[0]  # type: ignore[arg-type]

    def job(self, job_id: str) -> Job:
        job = self.backend.jobs.get_job(job_id)
        assert job is not None
        return job

    def wait_for(
        self, job_ids: list[str], done: Callable[[Job], bool] | None = None, timeout: float = 10
    ) -> list[Job]:
        """Poll until every job satisfies `done` (default: finished); fail on timeout."""
        done = done or (lambda j: j.status.finished)
        deadline = time.monotonic() + timeout
        while True:
            jobs = [self.job(i) for i in job_ids]
            if all(done(j) for j in jobs):
                return jobs
            if time.monotonic() > deadline:
                states = {j.id[:8]: j.status.value for j in jobs}
                raise AssertionError(f"jobs did not settle in {timeout}s: {states}")
            time.sleep(0.01)


_template_lock = threading.Lock()
_template: tuple[tempfile.TemporaryDirectory[str], User, User] | None = None


def _people_template() -> tuple[Path, User, User]:
    """A data dir holding the three accounts, made once per test session: argon2 sign-ups
    are slow on purpose, so each test copies this instead of signing up again."""
    global _template
    with _template_lock:
        if _template is None:
            holder = tempfile.TemporaryDirectory(prefix="studio-template-")
            settings = replace(
                Settings.load(env={}, secrets_path=None), data_dir=Path(holder.name) / "data"
            )
            backend = open_backend(settings)
            try:
                accounts = backend.accounts
                # The first account becomes admin; the people under test are plain users.
                accounts.sign_up("admin@example.com", "admin-password", admin_emails=frozenset())
                alice = accounts.sign_up(
                    "alice@example.com", "alice-pw-1", admin_emails=frozenset()
                )
                bob = accounts.sign_up("bob@example.com", "bob-pw-123", admin_emails=frozenset())
            finally:
                backend.close()
            _template = (holder, alice.user, bob.user)
        holder, alice_user, bob_user = _template
        return Path(holder.name) / "data", alice_user, bob_user


@contextlib.contextmanager
def make_studio(settings: Settings, *, fake_latency_ms: int = 0) -> Iterator[Studio]:
    """An isolated deployment on `settings` with Alice and Bob signed up; workers stopped and
    backend closed on exit."""
    template, alice, bob = _people_template()
    shutil.copytree(template, settings.data_dir)
    backend = open_backend(settings)
    fake = FakeProvider(latency_ms=fake_latency_ms)
    providers = {"demo": DemoProvider(), "fake": fake}
    services = build_services(backend, providers, settings)  # type: ignore[arg-type]
    studio = Studio(settings, backend, services, fake, alice, bob, [])
    try:
        yield studio
    finally:
        for worker in studio.workers:
            worker.stop(0)
        backend.close()


@pytest.fixture
def studio(settings: Settings) -> Iterator[Studio]:
    """A local deployment with a 60/min rate limit and fast polling; no worker started."""
    with make_studio(replace(settings, rate_limit_per_minute=60)) as studio:
        yield studio


def finished_ok(job: Job) -> bool:
    return job.status is JobStatus.DONE


__all__ = ["FakeProvider", "Studio", "finished_ok", "make_studio", "wait_until"]
