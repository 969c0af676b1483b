"""The queue: claim order and the concurrency cap, leases (heartbeat, expiry, lease-checked
finishing), attempts, requeue with backoff, release, cancel, positions and depth. Lease expiry is
real time, so those tests use leases of a fraction of a second."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from core.domain.models import JobStatus
from tests.constants import LEASE
from tests.contract.support import submit

SHORT_LEASE = 0.3
PAST_SHORT_LEASE = 0.45


def _finish(backend, job, owner):
    return backend.jobs.finish(
        job.id, owner, result_path=f"{job.user_id}/{job.id}.png", thumb_path=None, result_meta={}
    )


def test_claim_takes_the_oldest_runnable_job_first(backend, new_user):
    user = new_user()
    jobs = [submit(backend, user)[0] for _ in range(3)]

    claimed = [backend.jobs.claim(f"w{i}", LEASE, 10) for i in range(3)]

    assert [c.id for c in claimed] == [j.id for j in jobs]
    assert backend.jobs.claim("w9", LEASE, 10) is None


def test_claim_sets_processing_lease_started_at_and_counts_the_attempt(backend, new_user):
    job = submit(backend, new_user())[0]
    before = datetime.now(UTC) - timedelta(seconds=2)

    claimed = backend.jobs.claim("worker-a", LEASE, 3)

    assert claimed.id == job.id
    assert claimed.status is JobStatus.PROCESSING
    assert claimed.lease_owner == "worker-a"
    assert claimed.attempts == 1
    assert claimed.started_at is not None and claimed.started_at >= before
    assert claimed.lease_expires_at > datetime.now(UTC) + timedelta(seconds=LEASE - 5)
    assert backend.jobs.get_job(job.id).status is JobStatus.PROCESSING


def test_never_more_live_leases_than_the_concurrency_cap(backend, new_user):
    user = new_user()
    submit(backend, user, 4)
    submit(backend, user, 2)

    held = [backend.jobs.claim(f"w{i}", LEASE, 3) for i in range(3)]
    assert all(held)
    assert backend.jobs.claim("w3", LEASE, 3) is None
    assert backend.jobs.claim("w3", LEASE, 3) is None

    assert _finish(backend, held[0], "w0")
    fourth = backend.jobs.claim("w3", LEASE, 3)
    assert fourth is not None
    assert backend.jobs.claim("w4", LEASE, 3) is None
    assert backend.jobs.queue_depth().processing == 3


def test_an_expired_lease_is_claimable_and_the_late_owner_cannot_finish(backend, new_user):
    job = submit(backend, new_user())[0]
    backend.jobs.claim("crashed", SHORT_LEASE, 1)
    assert backend.jobs.claim("other", LEASE, 1) is None  # the cap holds while the lease lives

    time.sleep(PAST_SHORT_LEASE)
    again = backend.jobs.claim("other", LEASE, 1)

    assert again.id == job.id
    assert again.lease_owner == "other"
    assert again.attempts == 2
    assert not _finish(backend, job, "crashed")
    assert backend.jobs.heartbeat([job.id], "crashed", LEASE) == set()
    assert not backend.jobs.fail(job.id, "crashed", error_code="x", error_message="late")
    assert _finish(backend, job, "other")
    assert backend.jobs.get_job(job.id).status is JobStatus.DONE


def test_an_expired_lease_that_used_every_attempt_fails_instead_of_running_again(backend, new_user):
    job = submit(backend, new_user(), max_attempts=1)[0]
    backend.jobs.claim("crashed", SHORT_LEASE, 3)
    time.sleep(PAST_SHORT_LEASE)

    assert backend.jobs.claim("other", LEASE, 3) is None

    failed = backend.jobs.get_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert failed.error_message
    assert failed.lease_owner is None
    assert failed.finished_at is not None


def test_a_claim_fails_an_exhausted_expired_job_and_takes_the_next_one(backend, new_user):
    user = new_user()
    exhausted = submit(backend, user, max_attempts=1)[0]
    waiting = submit(backend, user)[0]
    backend.jobs.claim("crashed", SHORT_LEASE, 1)
    assert backend.jobs.claim("other", LEASE, 1) is None
    time.sleep(PAST_SHORT_LEASE)

    claimed = backend.jobs.claim("other", LEASE, 1)

    assert claimed.id == waiting.id
    assert backend.jobs.get_job(exhausted.id).status is JobStatus.FAILED


def test_heartbeat_keeps_a_lease_alive_and_reports_what_is_held(backend, new_user):
    user = new_user()
    a, b = submit(backend, user)[0], submit(backend, user)[0]
    backend.jobs.claim("w", SHORT_LEASE, 3)
    backend.jobs.claim("w", SHORT_LEASE, 3)

    held = backend.jobs.heartbeat([a.id, b.id, "00000000-0000-4000-8000-000000000000"], "w", LEASE)
    time.sleep(PAST_SHORT_LEASE)

    assert held == {a.id, b.id}
    assert backend.jobs.claim("thief", LEASE, 3) is None
    assert backend.jobs.heartbeat([a.id], "thief", LEASE) == set()


def test_finish_stores_the_result_and_clears_the_lease(backend, new_user):
    job = submit(backend, new_user())[0]
    backend.jobs.claim("w", LEASE, 3)

    meta = {"width": 1024, "height": 768, "mime": "image/png", "bytes": 1234}
    assert backend.jobs.finish(
        job.id, "w", result_path="u/j.png", thumb_path="u/j.thumb.webp", result_meta=meta
    )

    done = backend.jobs.get_job(job.id)
    assert done.status is JobStatus.DONE
    assert (done.result_path, done.thumb_path, done.result_meta) == (
        "u/j.png",
        "u/j.thumb.webp",
        meta,
    )
    assert done.lease_owner is None and done.lease_expires_at is None
    assert done.finished_at is not None
    assert not _finish(backend, job, "w")  # finishing twice changes nothing


def test_fail_records_the_reason(backend, new_user):
    job = submit(backend, new_user())[0]
    backend.jobs.claim("w", LEASE, 3)

    assert not backend.jobs.fail(job.id, "someone-else", error_code="x", error_message="no")
    assert backend.jobs.fail(
        job.id, "w", error_code="safety_blocked", error_message="The prompt was blocked."
    )

    failed = backend.jobs.get_job(job.id)
    assert failed.status is JobStatus.FAILED
    assert (failed.error_code, failed.error_message) == (
        "safety_blocked",
        "The prompt was blocked.",
    )
    assert failed.finished_at is not None and failed.lease_owner is None


def test_requeued_job_waits_for_run_after_and_keeps_its_error_and_attempts(backend, new_user):
    job = submit(backend, new_user())[0]
    backend.jobs.claim("w", LEASE, 3)
    due = datetime.now(UTC) + timedelta(seconds=0.6)

    assert backend.jobs.requeue(
        job.id, "w", run_after=due, error_code="transient", error_message="Provider busy (503)."
    )

    waiting = backend.jobs.get_job(job.id)
    assert waiting.status is JobStatus.QUEUED
    assert waiting.attempts == 1
    assert waiting.error_message == "Provider busy (503)."
    assert waiting.lease_owner is None
    assert abs((waiting.run_after - due).total_seconds()) < 0.01
    assert backend.jobs.claim("w", LEASE, 3) is None

    time.sleep(0.7)
    retried = backend.jobs.claim("w", LEASE, 3)
    assert retried.id == job.id
    assert retried.attempts == 2


def test_requeue_by_a_non_owner_is_refused(backend, new_user):
    job = submit(backend, new_user())[0]
    backend.jobs.claim("w", LEASE, 3)
    assert not backend.jobs.requeue(
        job.id, "intruder", run_after=datetime.now(UTC), error_code="x", error_message="x"
    )
    assert backend.jobs.get_job(job.id).status is JobStatus.PROCESSING


def test_release_hands_jobs_back_and_refunds_the_attempt(backend, new_user):
    user = new_user()
    a, b = submit(backend, user)[0], submit(backend, user)[0]
    backend.jobs.claim("w", LEASE, 3)
    backend.jobs.claim("w", LEASE, 3)

    assert backend.jobs.release([a.id, b.id], "not-me") == 0
    assert backend.jobs.release([a.id, b.id], "w") == 2

    for job_id in (a.id, b.id):
        released = backend.jobs.get_job(job_id)
        assert released.status is JobStatus.QUEUED
        assert released.attempts == 0
        assert released.lease_owner is None
    assert backend.jobs.claim("w2", LEASE, 3).id == a.id


def test_cancel_applies_only_to_queued_jobs(backend, new_user):
    user = new_user()
    running, finished, queued = (submit(backend, user)[0] for _ in range(3))
    assert backend.jobs.claim("w", LEASE, 3).id == running.id
    assert backend.jobs.claim("w", LEASE, 3).id == finished.id
    assert _finish(backend, finished, "w")

    assert backend.jobs.cancel(queued.id)
    assert not backend.jobs.cancel(queued.id)
    assert not backend.jobs.cancel(running.id)
    assert not backend.jobs.cancel(finished.id)

    canceled = backend.jobs.get_job(queued.id)
    assert canceled.status is JobStatus.CANCELED
    assert backend.jobs.get_job(running.id).status is JobStatus.PROCESSING
    assert backend.jobs.get_job(finished.id).status is JobStatus.DONE
    assert backend.jobs.claim("w", LEASE, 3) is None  # canceled jobs are never claimed


def test_queue_positions_follow_claim_order_and_skip_jobs_not_queued(backend, new_user):
    user = new_user()
    jobs = [submit(backend, user)[0] for _ in range(5)]
    backend.jobs.claim("w", LEASE, 3)  # jobs[0]
    backend.jobs.cancel(jobs[2].id)
    unknown = "00000000-0000-4000-8000-000000000000"

    positions = backend.jobs.queue_positions([j.id for j in jobs] + [unknown])

    assert positions == {jobs[1].id: 1, jobs[3].id: 2, jobs[4].id: 3}
    assert backend.jobs.queue_positions([]) == {}


def test_a_job_waiting_to_retry_has_no_place_in_line_and_the_others_are_distinct(backend, new_user):
    """Issue 12: two queued jobs both showed "#1 in line" when the first was waiting to retry."""
    user = new_user()
    waiting, second, third = (submit(backend, user)[0] for _ in range(3))
    backend.jobs.claim("w", LEASE, 3)  # `waiting`, the oldest
    due = datetime.now(UTC) + timedelta(minutes=5)
    assert backend.jobs.requeue(
        waiting.id, "w", run_after=due, error_code="transient", error_message="busy"
    )

    positions = backend.jobs.queue_positions([waiting.id, second.id, third.id])

    assert positions == {second.id: 1, third.id: 2}


def test_queue_depth_counts_queued_and_processing(backend, new_user):
    assert backend.jobs.queue_depth().queued == 0
    assert backend.jobs.queue_depth().oldest_queued_seconds is None
    submit(backend, new_user(), 3)
    backend.jobs.claim("w", LEASE, 3)

    depth = backend.jobs.queue_depth()

    assert (depth.queued, depth.processing) == (2, 1)
    assert depth.oldest_queued_seconds is not None and 0 <= depth.oldest_queued_seconds < 30


def test_a_named_lease_has_one_holder_until_it_expires(backend):
    assert backend.jobs.try_acquire_lease("sweeper", "proc-a", SHORT_LEASE)
    assert not backend.jobs.try_acquire_lease("sweeper", "proc-b", SHORT_LEASE)
    assert backend.jobs.try_acquire_lease("sweeper", "proc-a", SHORT_LEASE)  # renewal
    assert backend.jobs.try_acquire_lease("other-task", "proc-b", SHORT_LEASE)

    time.sleep(PAST_SHORT_LEASE)

    assert backend.jobs.try_acquire_lease("sweeper", "proc-b", LEASE)
    assert not backend.jobs.try_acquire_lease("sweeper", "proc-a", LEASE)
