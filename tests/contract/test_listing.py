"""list_jobs (keyset pagination and filters), set_review, delete_jobs and purge_candidates."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.domain.errors import ValidationError
from core.domain.models import Job, JobQuery, JobStatus, ReviewStatus
from tests.constants import LEASE
from tests.contract.support import submit


def _all_pages(backend, query: JobQuery) -> list[Job]:
    seen: list[Job] = []
    cursor = query.cursor
    for _ in range(100):
        page = backend.jobs.list_jobs(replace(query, cursor=cursor))
        assert len(page.items) <= query.limit
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return seen
        assert page.items, "a page with a next cursor is never empty"
    raise AssertionError("pagination did not end")


def _key(job: Job) -> tuple[datetime, str]:
    return (job.created_at, job.id)


@pytest.fixture
def history(backend, new_user):
    """30 jobs of one user (single jobs and batches, two providers, varied prompts) and 5 of
    another."""
    alice, bob = new_user(), new_user()
    prompts = ["A red Cat", "blue dog", "100% pure_water", "cathedral at night", "plain"]
    mine: list[Job] = []
    for i in range(26):
        provider = "demo" if i % 2 else "fake"
        mine += submit(backend, alice, prompt=prompts[i % len(prompts)], provider=provider)
    mine += submit(backend, alice, 4, prompt="batch of four")
    theirs = submit(backend, bob, 5, prompt="bob's cat")
    return alice, bob, mine, theirs


def test_pages_cover_every_job_once_newest_first(backend, history):
    alice, _bob, mine, _theirs = history

    listed = _all_pages(backend, JobQuery(user_id=alice.id, limit=7))

    assert len(listed) == 30
    assert len({j.id for j in listed}) == 30
    assert {j.id for j in listed} == {j.id for j in mine}
    assert [_key(j) for j in listed] == sorted((_key(j) for j in listed), reverse=True)


def test_oldest_first_pages_are_ascending(backend, history):
    alice, _bob, mine, _theirs = history

    listed = _all_pages(backend, JobQuery(user_id=alice.id, limit=8, oldest_first=True))

    assert [j.id for j in listed] == [j.id for j in sorted(mine, key=_key)]


def test_a_page_is_exactly_limit_long_and_the_last_has_no_cursor(backend, history):
    alice, *_ = history
    first = backend.jobs.list_jobs(JobQuery(user_id=alice.id, limit=24))
    assert len(first.items) == 24 and first.next_cursor
    second = backend.jobs.list_jobs(JobQuery(user_id=alice.id, limit=24, cursor=first.next_cursor))
    assert len(second.items) == 6 and second.next_cursor is None
    exact = backend.jobs.list_jobs(JobQuery(user_id=alice.id, limit=30))
    assert len(exact.items) == 30 and exact.next_cursor is None


def test_jobs_created_after_a_cursor_do_not_shift_later_pages(backend, history):
    alice, _bob, mine, _theirs = history
    first = backend.jobs.list_jobs(JobQuery(user_id=alice.id, limit=10))
    submit(backend, alice, 3, prompt="arrived while paging")

    rest = _all_pages(backend, JobQuery(user_id=alice.id, limit=10, cursor=first.next_cursor))

    assert {j.id for j in first.items} | {j.id for j in rest} == {j.id for j in mine}
    assert len(first.items) + len(rest) == 30


def test_without_user_every_users_jobs_are_listed(backend, history):
    _alice, _bob, mine, theirs = history
    listed = _all_pages(backend, JobQuery(limit=9))
    assert {j.id for j in listed} == {j.id for j in mine + theirs}


def test_text_search_is_a_case_insensitive_substring(backend, history):
    alice, _bob, mine, _theirs = history

    cats = _all_pages(backend, JobQuery(user_id=alice.id, text="CAT", limit=5))

    expected = {j.id for j in mine if "cat" in j.prompt.lower()}
    assert {j.id for j in cats} == expected
    assert len(expected) == 11  # 6 × "A red Cat" and 5 × "cathedral at night"


def test_text_search_treats_like_wildcards_literally(backend, history):
    alice, _bob, mine, _theirs = history

    percent = backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="100%", limit=50)).items
    underscore = backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="e_w", limit=50)).items
    wildcard_only = backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="%", limit=50)).items
    nothing = backend.jobs.list_jobs(JobQuery(user_id=alice.id, text="r_d", limit=50)).items

    water = {j.id for j in mine if "pure_water" in j.prompt}
    assert {j.id for j in percent} == water
    assert {j.id for j in underscore} == water
    assert {j.id for j in wildcard_only} == water
    assert nothing == []  # "red" would match if _ were a wildcard


def test_filters_combine(backend, history):
    alice, bob, mine, theirs = history
    backend.jobs.claim("w", LEASE, 5)  # the oldest of alice's jobs (provider "fake")

    fake_queued = _all_pages(
        backend,
        JobQuery(user_id=alice.id, providers=("fake",), statuses=(JobStatus.QUEUED,), limit=4),
    )
    processing = backend.jobs.list_jobs(JobQuery(statuses=(JobStatus.PROCESSING,))).items
    batch = backend.jobs.list_jobs(JobQuery(batch_id=theirs[0].batch_id)).items
    by_model = backend.jobs.list_jobs(JobQuery(user_id=bob.id, models=("demo-1",))).items
    no_model = backend.jobs.list_jobs(JobQuery(user_id=bob.id, models=("other",))).items

    assert {j.id for j in fake_queued} == {
        j.id for j in mine if j.provider == "fake" and j.id != mine[0].id
    }
    assert [j.id for j in processing] == [mine[0].id]
    assert {j.id for j in batch} == {j.id for j in theirs}
    assert len(by_model) == 5 and no_model == []


def test_created_between_filters_by_creation_time(backend, new_user):
    user = new_user()
    early = submit(backend, user)[0]
    time.sleep(0.05)
    middle_start = datetime.now(UTC)
    middle = submit(backend, user)[0]
    time.sleep(0.05)
    middle_end = datetime.now(UTC)
    submit(backend, user)

    listed = backend.jobs.list_jobs(
        JobQuery(user_id=user.id, created_after=middle_start, created_before=middle_end)
    ).items
    after = backend.jobs.list_jobs(JobQuery(user_id=user.id, created_after=middle_start)).items

    assert [j.id for j in listed] == [middle.id]
    assert early.id not in {j.id for j in after} and len(after) == 2


def test_a_garbled_cursor_is_a_validation_error(backend, history):
    alice, *_ = history
    with pytest.raises(ValidationError):
        backend.jobs.list_jobs(JobQuery(user_id=alice.id, cursor="not-a-cursor!"))


def test_set_review_records_status_note_reviewer_and_time(backend, new_user):
    owner, reviewer = new_user(), new_user()
    jobs = submit(backend, owner, 3)
    unknown = "00000000-0000-4000-8000-000000000000"
    before = datetime.now(UTC) - timedelta(seconds=5)

    changed = backend.jobs.set_review(
        [jobs[0].id, jobs[1].id, unknown],
        status=ReviewStatus.FLAGGED,
        note="check hands",
        reviewer_id=reviewer.id,
    )

    assert changed == 2
    flagged = backend.jobs.get_job(jobs[0].id)
    assert flagged.review_status is ReviewStatus.FLAGGED
    assert flagged.review_note == "check hands"
    assert flagged.reviewed_by == reviewer.id
    assert flagged.reviewed_at is not None and flagged.reviewed_at >= before
    assert backend.jobs.get_job(jobs[2].id).review_status is ReviewStatus.UNREVIEWED
    by_review = backend.jobs.list_jobs(JobQuery(review_statuses=(ReviewStatus.FLAGGED,))).items
    assert {j.id for j in by_review} == {jobs[0].id, jobs[1].id}


def test_delete_jobs_removes_rows_and_counts_them(backend, new_user):
    jobs = submit(backend, new_user(), 3)

    assert backend.jobs.delete_jobs([jobs[0].id, jobs[1].id, jobs[0].id]) == 2

    assert backend.jobs.get_job(jobs[0].id) is None
    assert backend.jobs.get_job(jobs[2].id) is not None
    assert backend.jobs.delete_jobs([]) == 0


def test_delete_jobs_never_deletes_a_job_being_generated(backend, new_user):
    # Its provider call runs on: deleting the row would orphan the files and the bill.
    running, queued = submit(backend, new_user(), 2)
    claimed = backend.jobs.claim("worker-1", LEASE, 10)
    assert claimed is not None and claimed.id == running.id

    assert backend.jobs.delete_jobs([running.id, queued.id]) == 1

    kept = backend.jobs.get_job(running.id)
    assert kept is not None and kept.status is JobStatus.PROCESSING
    assert backend.jobs.get_job(queued.id) is None
    # The worker's attempt still lands.
    assert backend.jobs.finish(
        running.id, "worker-1", result_path=None, thumb_path=None, result_meta={}
    )


def test_purge_candidates_select_finished_jobs_older_than_the_cutoff(backend, new_user):
    alice, bob = new_user(), new_user()
    done, failed, running, waiting = (submit(backend, alice)[0] for _ in range(4))
    canceled = submit(backend, bob)[0]
    backend.jobs.claim("w", LEASE, 5)
    backend.jobs.claim("w", LEASE, 5)
    backend.jobs.claim("w", LEASE, 5)
    backend.jobs.finish(done.id, "w", result_path="p", thumb_path=None, result_meta={})
    backend.jobs.fail(failed.id, "w", error_code="x", error_message="x")
    backend.jobs.cancel(canceled.id)
    finished_statuses = (JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELED)
    later = datetime.now(UTC) + timedelta(seconds=5)
    earlier = datetime.now(UTC) - timedelta(hours=1)

    every = backend.jobs.purge_candidates(statuses=finished_statuses, finished_before=later)
    none_old = backend.jobs.purge_candidates(statuses=finished_statuses, finished_before=earlier)
    only_failed = backend.jobs.purge_candidates(
        statuses=(JobStatus.FAILED, JobStatus.CANCELED), finished_before=later
    )
    only_bob = backend.jobs.purge_candidates(
        statuses=finished_statuses, finished_before=later, user_id=bob.id
    )
    limited = backend.jobs.purge_candidates(
        statuses=finished_statuses, finished_before=later, limit=2
    )

    assert {j.id for j in every} == {done.id, failed.id, canceled.id}
    assert running.id not in {j.id for j in every} and waiting.id not in {j.id for j in every}
    assert none_old == []
    assert {j.id for j in only_failed} == {failed.id, canceled.id}
    assert [j.id for j in only_bob] == [canceled.id]
    assert len(limited) == 2


def test_purge_candidates_can_spare_reviewed_jobs(backend, new_user):
    user = new_user()
    keep, drop = submit(backend, user)[0], submit(backend, user)[0]
    backend.jobs.cancel(keep.id)
    backend.jobs.cancel(drop.id)
    backend.jobs.set_review([keep.id], status=ReviewStatus.APPROVED, note=None, reviewer_id=user.id)

    chosen = backend.jobs.purge_candidates(
        statuses=(JobStatus.CANCELED,),
        finished_before=datetime.now(UTC) + timedelta(seconds=5),
        exclude_review=(ReviewStatus.APPROVED, ReviewStatus.FLAGGED),
    )

    assert [j.id for j in chosen] == [drop.id]
