"""The review/admin service on both backends (local, and supabase-py through the test gateway on
a real PostgreSQL 15): review with the reviewer's own credentials, preview = actual purge with
files gone, two sweepers at once, disabling, the last-admin rule and the daily quota."""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from core.domain.errors import AccountDisabled, Conflict, QuotaExceeded
from core.domain.models import (
    Job,
    JobQuery,
    JobRequest,
    JobStatus,
    NewJob,
    ReviewStatus,
    Role,
    User,
)
from core.domain.settings import Settings
from core.ports import Backend
from core.providers.demo import DemoProvider
from core.services import Services, build_services
from core.services.sweeper import Sweeper
from tests.constants import PASSWORD
from tests.contract.conftest import make_local_backend
from tests.contract.test_races import _together

REQUEST = JobRequest(provider="demo", model="demo-pattern", prompt="a kite over dunes")


def _supabase_factory(settings: Settings, tmp_path: Path) -> Iterator[Backend]:
    from tests.integration.supabase_factory import make_supabase_backend

    yield from make_supabase_backend(settings, tmp_path)


def _second_local(settings: Settings, tmp_path: Path) -> Backend:
    from core.backends.sqlite import open_local_backend

    return open_local_backend(replace(settings, data_dir=tmp_path / "data"))


def _second_supabase(settings: Settings, tmp_path: Path) -> Backend:
    from core.backends.supabase import open_supabase_backend
    from tests.integration.supabase_factory import gateway, supabase_settings

    return open_supabase_backend(supabase_settings(settings, gateway()))


def _backdate_local(backend: Backend, job_ids: list[str], when: datetime) -> None:
    from core.backends.sqlite.db import to_us

    with backend.db.write() as conn:  # type: ignore[attr-defined]
        for job_id in job_ids:
            conn.execute(
                "UPDATE jobs SET created_at = ?, started_at = ?, finished_at = ? WHERE id = ?",
                (to_us(when), to_us(when), to_us(when), job_id),
            )


def _backdate_supabase(backend: Backend, job_ids: list[str], when: datetime) -> None:
    from tests.integration.pg import superuser
    from tests.integration.supabase_factory import gateway

    with superuser(gateway().cluster) as conn:
        conn.execute(
            "update public.jobs set created_at = %s, started_at = %s, finished_at = %s "
            "where id = any(%s::uuid[])",
            [when, when, when, job_ids],
        )


BACKENDS = {
    "local": (make_local_backend, _second_local, _backdate_local),
    "supabase": (_supabase_factory, _second_supabase, _backdate_supabase),
}


@dataclass
class World:
    backend: Backend
    services: Services
    admin: User
    reviewer: User
    alice: User
    bob: User
    second_backend: Callable[[], Backend]
    backdate_to: Callable[[list[str], datetime], None]

    def signed_in(self, email: str) -> User:
        return self.services.accounts.sign_in(email, PASSWORD).user

    def finished(
        self,
        user: User,
        count: int,
        status: JobStatus,
        age: timedelta,
        meta: dict[str, object] | None = None,
    ) -> list[Job]:
        """Jobs taken through the store's claim → finish/fail, with real files when done."""
        request = replace(REQUEST, params={"seed": 1})
        batch = str(uuid.uuid4())
        new = [
            NewJob(str(uuid.uuid4()), user.id, request, batch, max_attempts=4) for _ in range(count)
        ]
        jobs = self.backend.jobs.create_jobs(new, rate_limit_per_minute=1_000_000)
        for _ in jobs:
            job = self.backend.jobs.claim("seed", 60, 1_000)
            assert job is not None
            if status is JobStatus.DONE:
                data = _png()
                paths = (f"{job.user_id}/{job.id}.png", f"{job.user_id}/{job.id}.thumb.webp")
                self.backend.blobs.put(paths[0], data, "image/png")
                self.backend.blobs.put(paths[1], data, "image/webp")
                result_meta = {"bytes": len(data), "mime": "image/png", **(meta or {})}
                assert self.backend.jobs.finish(
                    job.id,
                    "seed",
                    result_path=paths[0],
                    thumb_path=paths[1],
                    result_meta=result_meta,
                )
            else:
                assert self.backend.jobs.fail(
                    job.id, "seed", error_code="safety_blocked", error_message="Blocked."
                )
        self.backdate_to([j.id for j in jobs], datetime.now(UTC) - age)
        return [self.job(j.id) for j in jobs]

    def job(self, job_id: str) -> Job:
        job = self.backend.jobs.get_job(job_id)
        assert job is not None
        return job

    def stored(self, job: Job) -> list[bool]:
        paths = [p for p in (job.result_path, job.thumb_path) if p]
        return [self.backend.blobs.size(p) is not None for p in paths]


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(params=sorted(BACKENDS))
def world(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[World]:
    factory, second, backdate = BACKENDS[request.param]
    settings = replace(settings, worker_enabled=False, rate_limit_per_minute=1_000)
    for backend in factory(settings, tmp_path):
        services = build_services(backend, {"demo": DemoProvider()}, settings)
        accounts = services.accounts
        emails = ["admin@example.com", "reviewer@example.com", "alice@example.com", "bob@x.org"]
        for email in emails:
            accounts.sign_up(email, PASSWORD)
        people = [accounts.sign_in(e, PASSWORD).user for e in emails]
        backend.accounts.set_role(people[1].id, Role.REVIEWER)
        opened: list[Backend] = []

        def open_second(second=second, opened=opened) -> Backend:
            other = second(settings, tmp_path)
            opened.append(other)
            return other

        world = World(
            backend=backend,
            services=services,
            admin=people[0],
            reviewer=accounts.sign_in(emails[1], PASSWORD).user,
            alice=people[2],
            bob=people[3],
            second_backend=open_second,
            backdate_to=lambda ids, when, b=backend, f=backdate: f(b, ids, when),
        )
        try:
            yield world
        finally:
            for other in opened:
                other.close()


def test_a_review_decision_is_recorded_and_the_owner_sees_only_the_status(world: World):
    job = world.finished(world.alice, 1, JobStatus.DONE, timedelta(minutes=5))[0]
    queue = world.services.review.review_queue(
        world.reviewer, JobQuery(review_statuses=(ReviewStatus.UNREVIEWED,), oldest_first=True)
    )
    assert [j.id for j in queue.items] == [job.id]

    assert world.services.review.set_review(world.reviewer, [job.id], "approved", "crisp") == 1

    stored = world.job(job.id)
    assert (stored.review_status, stored.reviewed_by, stored.review_note) == (
        ReviewStatus.APPROVED,
        world.reviewer.id,
        "crisp",
    )
    mine = world.services.jobs.get_job(world.alice, job.id)
    assert (mine.review_status, mine.reviewed_by, mine.review_note) == (
        ReviewStatus.APPROVED,
        None,
        None,
    )


def test_the_purge_preview_equals_what_the_purge_deletes(world: World):
    old_done = world.finished(world.bob, 3, JobStatus.DONE, timedelta(days=10))
    old_failed = world.finished(world.alice, 2, JobStatus.FAILED, timedelta(days=10))
    recent = world.finished(world.bob, 1, JobStatus.DONE, timedelta(hours=1))[0]
    world.services.review.set_review(world.reviewer, [old_done[0].id], ReviewStatus.FLAGGED)

    criteria, summary = world.services.admin.purge_preview(
        world.admin, ["done", "failed"], 86_400, exclude_review=["approved", "flagged"]
    )
    report = world.services.admin.purge(world.admin, criteria, batch_size=2)

    size = old_done[1].result_meta["bytes"]
    assert (summary.jobs, summary.objects, summary.bytes) == (4, 4, 2 * size)
    assert (report.deleted_jobs, report.deleted_objects, report.deleted_bytes) == (4, 4, 2 * size)
    for job in old_done[1:] + old_failed:
        assert world.backend.jobs.get_job(job.id) is None
    assert not any(world.stored(old_done[1]) + world.stored(old_done[2]))
    assert all(world.stored(old_done[0])) and all(world.stored(recent))


def test_two_sweepers_at_once_delete_each_job_once(world: World):
    jobs = world.finished(world.alice, 12, JobStatus.DONE, timedelta(days=30))
    settings = world.services.admin.settings
    sweepers = [Sweeper(world.backend, settings), Sweeper(world.second_backend(), settings)]
    barrier = threading.Barrier(2)
    runs: list[object] = [None, None]

    def sweep(i: int) -> None:
        barrier.wait()
        runs[i] = sweepers[i].run_once(trigger="schedule", batch_size=3)

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    recorded = world.services.admin.sweep_runs(world.admin)
    assert len(recorded) == 1 and recorded[0].deleted_jobs == 12
    assert sum(run is not None for run in runs) == 1
    assert all(world.backend.jobs.get_job(j.id) is None for j in jobs)
    assert not any(flag for j in jobs for flag in world.stored(j))


def test_disabling_cancels_queued_jobs_and_blocks_sign_in(world: World):
    queued = world.services.jobs.submit(world.alice, REQUEST, count=2)
    assert world.services.admin.set_disabled(world.admin, world.alice.id, True) == 2
    assert {world.job(j.id).status for j in queued} == {JobStatus.CANCELED}
    with pytest.raises(AccountDisabled):
        world.services.accounts.sign_in(world.alice.email, PASSWORD)


def test_two_admins_demoting_each_other_at_once_always_leave_an_admin(world: World):
    """The Admin page's path: each admin's request passes its own role check, then both
    demotions race (the old check-then-update left no admin in about 1 of 20 trials)."""
    admin, bob = world.admin, world.bob
    world.services.admin.set_role(admin, bob.id, Role.ADMIN)
    for trial in range(20):
        # each request as the Admin page makes it: the caller as resolved from their session
        pairs = [
            (world.backend.accounts.get_user(admin.id), bob.id),
            (world.backend.accounts.get_user(bob.id), admin.id),
        ]
        outcomes = _together(
            2,
            lambda i, pairs=pairs: world.services.admin.set_role(
                pairs[i][0], pairs[i][1], Role.USER
            ),
        )

        admins = [u for u in world.backend.accounts.list_users() if u.role is Role.ADMIN]
        assert len(admins) == 1, f"trial {trial}: {outcomes}"
        assert sum(isinstance(o, Conflict) for o in outcomes) == 1
        world.services.admin.set_role(
            admins[0], admin.id if admins[0].id == bob.id else bob.id, "admin"
        )


def test_the_last_admin_keeps_the_role_and_quotas_apply_per_user(world: World):
    with pytest.raises(Conflict, match="last admin"):
        world.services.admin.set_role(world.admin, world.admin.id, Role.USER)
    assert world.backend.accounts.get_user(world.admin.id).role is Role.ADMIN

    world.services.admin.set_daily_quota(world.admin, world.bob.id, 1)
    bob = world.signed_in(world.bob.email)
    assert bob.daily_quota == 1
    world.services.jobs.submit(bob, REQUEST)
    with pytest.raises(QuotaExceeded):
        world.services.jobs.submit(bob, REQUEST)


def test_a_finished_purge_releases_its_lease_for_the_next_one(world: World):
    world.finished(world.alice, 1, JobStatus.FAILED, timedelta(days=3))
    criteria, _summary = world.services.admin.purge_preview(world.admin, ["failed"], 86_400)
    assert world.services.admin.purge(world.admin, criteria).deleted_jobs == 1
    world.finished(world.bob, 1, JobStatus.FAILED, timedelta(days=3))
    run = world.services.admin.sweep_now(world.admin)  # another owner, straight after
    assert run.deleted_jobs == 1


def test_spend_counts_the_recorded_cost_else_the_adapters_estimate(world: World):
    day = timedelta(minutes=5)
    world.finished(world.alice, 2, JobStatus.DONE, day, meta={"estimated_cost_usd": 0.25})
    world.finished(
        world.alice, 1, JobStatus.DONE, day, meta={"estimated_cost_usd": 0.25, "cost_usd": 0.1}
    )
    world.finished(world.bob, 1, JobStatus.DONE, day)
    board = world.services.admin.stats(world.admin, days=1)
    spend = {s.key: (s.images, round(s.usd, 6)) for s in board.spend_by_user}
    assert spend == {world.alice.id: (3, 0.6), world.bob.id: (1, 0.0)}
