"""The in-process "a job changed" signal: versions per user, waits that wake on a change or
time out, and the notifying job store that signals every state change of the queue."""

from __future__ import annotations

import threading
import time

from core.domain.changes import JobChanges
from core.domain.models import JobStatus
from tests.unit.conftest import Studio


def test_a_change_wakes_its_owner_and_not_someone_else() -> None:
    changes = JobChanges()
    seen: dict[str, int] = {}

    def wait(user: str) -> None:
        seen[user] = changes.wait(user, 0, timeout=2)

    ann, bob = (
        threading.Thread(target=wait, args=("ann",)),
        threading.Thread(target=wait, args=("bob",)),
    )
    ann.start()
    bob.start()
    time.sleep(0.05)
    changes.notify("ann")
    ann.join(1)
    assert seen == {"ann": 1}  # Ann woke; Bob is still waiting
    changes.notify(None)  # owner unknown: everyone's
    bob.join(1)
    assert seen == {"ann": 1, "bob": 1}
    assert changes.version("ann") == 2


def test_a_wait_without_change_times_out_with_the_same_version() -> None:
    changes = JobChanges()
    changes.notify("ann")
    started = time.monotonic()
    assert changes.wait("ann", 1, timeout=0.05) == 1
    assert time.monotonic() - started >= 0.05
    assert changes.wait("ann", 0, timeout=5) == 1  # already newer: returns at once


def test_every_step_of_a_job_through_the_worker_bumps_its_owners_version(studio: Studio) -> None:
    jobs = studio.services.jobs
    start = jobs.change_version(studio.alice)
    job = studio.submit("a red fox")
    after_submit = jobs.change_version(studio.alice)
    assert after_submit > start
    assert jobs.change_version(studio.bob) == 0  # Bob's views stay asleep

    studio.worker()
    (done,) = studio.wait_for([job.id])
    assert done.status is JobStatus.DONE
    # claimed, then finished: two more changes, each Alice's
    assert jobs.change_version(studio.alice) >= after_submit + 2
    assert jobs.change_version(studio.bob) == 0


def test_wait_for_change_returns_when_the_worker_finishes(studio: Studio) -> None:
    jobs = studio.services.jobs
    studio.fake.gate = threading.Event()
    job = studio.submit("slow")
    studio.worker()
    studio.wait_for([job.id], lambda j: j.status is JobStatus.PROCESSING)
    since = jobs.change_version(studio.alice)
    threading.Timer(0.1, studio.fake.gate.set).start()
    assert jobs.wait_for_change(studio.alice, since, timeout=5) > since
