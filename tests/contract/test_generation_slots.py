"""Generation slots do only generation: a job whose provider call returned is marked generated
(lease-checked, lease extended) and stops counting toward claim's concurrency cap while its
storage step runs; a claim clears the mark, so a job whose worker died mid-storage is generated
again. Both backends."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from core.domain.models import JobStatus
from tests.constants import LEASE
from tests.contract.support import submit

SHORT_LEASE = 0.3
PAST_SHORT_LEASE = 0.45


def test_a_generated_job_frees_its_slot_but_keeps_its_lease(backend, new_user):
    user = new_user()
    submit(backend, user, 3)

    first = backend.jobs.claim("w0", LEASE, 2)
    second = backend.jobs.claim("w1", LEASE, 2)
    assert backend.jobs.claim("w2", LEASE, 2) is None  # the cap: two generating

    assert backend.jobs.mark_generated(first.id, "w0", LEASE)
    third = backend.jobs.claim("w2", LEASE, 2)

    assert third is not None and third.id not in {first.id, second.id}
    assert backend.jobs.claim("w3", LEASE, 2) is None  # two generating again
    stored = backend.jobs.get_job(first.id)
    assert (stored.status, stored.lease_owner) == (JobStatus.PROCESSING, "w0")
    assert backend.jobs.queue_depth().processing == 3
    assert backend.jobs.finish(
        first.id, "w0", result_path=f"{user.id}/{first.id}.png", thumb_path=None, result_meta={}
    )
    assert backend.jobs.get_job(first.id).status is JobStatus.DONE


def test_marking_checks_the_lease_and_changes_nothing_for_another_owner(backend, new_user):
    job = submit(backend, new_user())[0]
    claimed = backend.jobs.claim("w0", LEASE, 1)

    assert not backend.jobs.mark_generated(job.id, "intruder", LEASE)
    assert not backend.jobs.mark_generated("00000000-0000-4000-8000-000000000000", "w0", LEASE)

    assert backend.jobs.claim("w1", LEASE, 1) is None  # still counted: not marked
    assert backend.jobs.get_job(job.id).lease_expires_at == claimed.lease_expires_at


def test_marking_extends_the_lease(backend, new_user):
    job = submit(backend, new_user())[0]
    backend.jobs.claim("w0", SHORT_LEASE, 1)

    assert backend.jobs.mark_generated(job.id, "w0", LEASE)

    expires = backend.jobs.get_job(job.id).lease_expires_at
    assert expires > datetime.now(UTC) + timedelta(seconds=LEASE - 5)


def test_a_job_whose_worker_died_while_storing_is_claimed_and_counted_again(backend, new_user):
    user = new_user()
    job = submit(backend, user)[0]
    backend.jobs.claim("crashed", SHORT_LEASE, 1)
    assert backend.jobs.mark_generated(job.id, "crashed", SHORT_LEASE)
    submit(backend, user)

    time.sleep(PAST_SHORT_LEASE)
    again = backend.jobs.claim("other", LEASE, 1)

    assert again.id == job.id and again.attempts == 2
    # The new attempt generates again: it counts toward the cap (the mark was cleared).
    assert backend.jobs.claim("third", LEASE, 1) is None
    assert not backend.jobs.mark_generated(job.id, "crashed", LEASE)
    assert not backend.jobs.finish(
        job.id, "crashed", result_path=f"{user.id}/{job.id}.png", thumb_path=None, result_meta={}
    )
