"""ReviewService: the queue, decisions, what owners see, compare."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from core.domain.errors import Conflict, Forbidden, NotFound, ValidationError
from core.domain.models import JobQuery, JobStatus, ReviewStatus
from tests.admin.conftest import Deployment


def test_review_queue_lists_done_images_of_every_user_oldest_unreviewed_first(dep: Deployment):
    old = dep.finished(dep.alice, age=timedelta(hours=3))[0]
    mid = dep.finished(dep.bob, age=timedelta(hours=2))[0]
    new = dep.finished(dep.alice, age=timedelta(hours=1))[0]
    dep.finished(dep.bob, status=JobStatus.FAILED)
    dep.queued(dep.alice)
    dep.services.review.set_review(dep.reviewer, [mid.id], ReviewStatus.APPROVED)

    query = JobQuery(review_statuses=(ReviewStatus.UNREVIEWED,), oldest_first=True)
    page = dep.services.review.review_queue(dep.reviewer, query)

    assert [j.id for j in page.items] == [old.id, new.id]


def test_review_queue_filters_by_provider_model_user_dates_and_prompt(dep: Deployment):
    cat = dep.finished(dep.alice, prompt="A Tabby CAT on a sofa", model="demo-poster")[0]
    dog = dep.finished(dep.bob, prompt="a dog", age=timedelta(days=3))[0]

    def ids(**filters: object) -> list[str]:
        query = JobQuery(oldest_first=True, **filters)  # type: ignore[arg-type]
        return [j.id for j in dep.services.review.review_queue(dep.admin, query).items]

    assert ids(text="tabby cat") == [cat.id]
    assert ids(user_id=dep.bob.id) == [dog.id]
    assert ids(models=("demo-poster",)) == [cat.id]
    assert ids(providers=("demo",)) == [dog.id, cat.id]
    assert ids(providers=("openai",)) == []
    assert ids(created_after=datetime.now(UTC) - timedelta(days=1)) == [cat.id]
    assert ids(created_before=datetime.now(UTC) - timedelta(days=1)) == [dog.id]


def test_a_plain_user_cannot_open_the_review_queue_or_decide(dep: Deployment):
    job = dep.finished(dep.alice)[0]
    with pytest.raises(Forbidden):
        dep.services.review.review_queue(dep.alice, JobQuery())
    with pytest.raises(Forbidden):
        dep.services.review.set_review(dep.alice, [job.id], ReviewStatus.APPROVED)
    with pytest.raises(Forbidden):
        dep.services.review.compare_jobs(dep.alice, [job.id, job.id])
    assert dep.job(job.id).review_status is ReviewStatus.UNREVIEWED


def test_a_decision_records_reviewer_time_and_note(dep: Deployment):
    job = dep.finished(dep.alice)[0]
    before = datetime.now(UTC)

    changed = dep.services.review.set_review(dep.reviewer, [job.id], "flagged", "  logo visible  ")

    stored = dep.job(job.id)
    assert changed == 1
    assert stored.review_status is ReviewStatus.FLAGGED
    assert stored.reviewed_by == dep.reviewer.id
    assert stored.review_note == "logo visible"
    assert stored.reviewed_at is not None and stored.reviewed_at >= before - timedelta(seconds=1)
    seen_by_admin = dep.services.jobs.get_job(dep.admin, job.id)
    assert seen_by_admin.reviewed_by == dep.reviewer.id


def test_the_owner_sees_the_status_but_not_the_reviewer_or_note(dep: Deployment):
    job = dep.finished(dep.alice)[0]
    dep.services.review.set_review(dep.reviewer, [job.id], ReviewStatus.APPROVED, "nice")

    mine = dep.services.jobs.get_job(dep.alice, job.id)
    listed = dep.services.jobs.list_jobs(dep.alice, JobQuery()).items[0]

    for seen in (mine, listed):
        assert seen.review_status is ReviewStatus.APPROVED
        assert seen.reviewed_by is None
        assert seen.review_note is None


def test_a_selection_is_decided_in_one_call(dep: Deployment):
    jobs = dep.finished(dep.alice, 3)
    changed = dep.services.review.set_review(dep.admin, [j.id for j in jobs], ReviewStatus.REJECTED)
    assert changed == 3
    assert {dep.job(j.id).review_status for j in jobs} == {ReviewStatus.REJECTED}


def test_bad_decisions_are_refused_and_change_nothing(dep: Deployment):
    done = dep.finished(dep.alice)[0]
    queued = dep.queued(dep.alice)[0]
    with pytest.raises(Conflict):
        dep.services.review.set_review(dep.reviewer, [done.id, queued.id], ReviewStatus.APPROVED)
    with pytest.raises(NotFound):
        dep.services.review.set_review(dep.reviewer, [done.id, str(uuid.uuid4())], "approved")
    with pytest.raises(NotFound):
        dep.services.review.set_review(dep.reviewer, ["not-an-id"], "approved")
    with pytest.raises(ValidationError, match="Unknown review status"):
        dep.services.review.set_review(dep.reviewer, [done.id], "great")
    with pytest.raises(ValidationError, match="1000 characters"):
        dep.services.review.set_review(dep.reviewer, [done.id], "flagged", "x" * 1001)
    with pytest.raises(ValidationError):
        dep.services.review.set_review(dep.reviewer, [], "approved")
    assert dep.job(done.id).review_status is ReviewStatus.UNREVIEWED
    assert dep.job(done.id).reviewed_by is None


def test_compare_takes_two_to_four_visible_jobs_in_order(dep: Deployment):
    jobs = dep.finished(dep.alice, 2) + dep.finished(dep.bob, 3)
    ids = [j.id for j in jobs]
    assert [j.id for j in dep.services.review.compare_jobs(dep.reviewer, ids[3:1:-1])] == [
        ids[3],
        ids[2],
    ]
    assert len(dep.services.review.compare_jobs(dep.reviewer, ids[:4])) == 4
    with pytest.raises(ValidationError):
        dep.services.review.compare_jobs(dep.reviewer, ids[:1])
    with pytest.raises(ValidationError):
        dep.services.review.compare_jobs(dep.reviewer, ids)
    with pytest.raises(NotFound):
        dep.services.review.compare_jobs(dep.reviewer, [ids[0], str(uuid.uuid4())])
