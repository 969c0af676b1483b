"""Fixtures for the review/admin tests: a local deployment with an admin, a reviewer and two
users, and helpers that put jobs straight into a finished state (real rows, real files)."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from PIL import Image

from core.backends.sqlite import LocalBackend, open_local_backend
from core.backends.sqlite.db import to_us
from core.domain.models import Job, JobRequest, JobStatus, NewJob, Role, User
from core.domain.settings import Settings
from core.providers.demo import DemoProvider
from core.services import Services, build_services
from tests.constants import FAST_HASHER, PASSWORD


def png_bytes(seed: int = 0, size: int = 16) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (seed % 256, 80, 160)).save(out, format="PNG")
    return out.getvalue()


@dataclass
class Deployment:
    settings: Settings
    backend: LocalBackend
    services: Services
    admin: User
    reviewer: User
    alice: User
    bob: User

    def user(self, user_id: str) -> User:
        user = self.backend.accounts.get_user(user_id)
        assert user is not None
        return user

    def queued(self, user: User, count: int = 1, **request: Any) -> list[Job]:
        """A batch of queued jobs created through the store (no rate limit)."""
        req = JobRequest(
            provider=request.get("provider", "demo"),
            model=request.get("model", "demo-pattern"),
            prompt=request.get("prompt", "a lighthouse at dusk"),
            params=request.get("params", {}),
        )
        batch = str(uuid.uuid4())
        new = [
            NewJob(
                id=str(uuid.uuid4()), user_id=user.id, request=req, batch_id=batch, max_attempts=4
            )
            for _ in range(count)
        ]
        return self.backend.jobs.create_jobs(new, rate_limit_per_minute=1_000_000)

    def finished(
        self,
        user: User,
        count: int = 1,
        *,
        status: JobStatus = JobStatus.DONE,
        age: timedelta | None = None,
        meta: dict[str, Any] | None = None,
        **request: Any,
    ) -> list[Job]:
        """Jobs taken through claim → finish/fail like the worker does, with real files for done
        ones; `age` back-dates created/started/finished in SQL. Call it while nothing else is
        queued (the claim takes the oldest runnable job)."""
        jobs = self.queued(user, count, **request)
        ids = {j.id for j in jobs}
        owner = f"test-{uuid.uuid4().hex[:6]}"
        claimed: list[Job] = []
        while len(claimed) < count:
            job = self.backend.jobs.claim(owner, 60, 1_000_000)
            assert job is not None
            assert job.id in ids, "another queued job was claimed first"
            claimed.append(job)
        for n, job in enumerate(claimed):
            if status is JobStatus.DONE:
                data = png_bytes(n)
                result, thumb = f"{user.id}/{job.id}.png", f"{user.id}/{job.id}.thumb.webp"
                self.backend.blobs.put(result, data, "image/png")
                self.backend.blobs.put(thumb, data[:64], "image/webp")
                job_meta = {"mime": "image/png", "bytes": len(data), "width": 16, "height": 16}
                job_meta.update(meta or {})
                assert self.backend.jobs.finish(
                    job.id, owner, result_path=result, thumb_path=thumb, result_meta=job_meta
                )
            elif status is JobStatus.FAILED:
                assert self.backend.jobs.fail(
                    job.id, owner, error_code="safety_blocked", error_message="Blocked."
                )
            else:
                raise ValueError(status)
        if age is not None:
            self.backdate([j.id for j in jobs], age)
        return [self.job(j.id) for j in jobs]

    def backdate(self, job_ids: list[str], age: timedelta) -> None:
        then = to_us(datetime.now(UTC) - age)
        assert self.backend.db is not None
        with self.backend.db.write() as conn:
            for job_id in job_ids:
                conn.execute(
                    "UPDATE jobs SET created_at = ?, started_at = ?, finished_at = ? WHERE id = ?",
                    (then, then, then, job_id),
                )

    def job(self, job_id: str) -> Job:
        job = self.backend.jobs.get_job(job_id)
        assert job is not None
        return job

    def exists(self, path: str) -> bool:
        return self.backend.blobs.size(path) is not None


def open_deployment(settings: Settings) -> Deployment:
    backend = open_local_backend(settings, password_hasher=FAST_HASHER)
    services = build_services(backend, {"demo": DemoProvider()}, settings)
    accounts = services.accounts
    admin = accounts.sign_up("admin@example.com", PASSWORD).user
    reviewer = accounts.sign_up("reviewer@example.com", PASSWORD).user
    backend.accounts.set_role(reviewer.id, Role.REVIEWER)
    alice = accounts.sign_up("alice@example.com", PASSWORD).user
    bob = accounts.sign_up("bob@example.com", PASSWORD).user
    dep = Deployment(settings, backend, services, admin, reviewer, alice, bob)
    dep.reviewer = dep.user(reviewer.id)
    return dep


@pytest.fixture
def dep(settings: Settings) -> Iterator[Deployment]:
    deployment = open_deployment(replace(settings, worker_enabled=False))
    try:
        yield deployment
    finally:
        deployment.backend.close()
