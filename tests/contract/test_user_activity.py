"""The admin user list's figures (AdminStore.user_activity) on every backend: job counts kept up
to date by the store as jobs are created, deleted and their owners removed, and the latest job
creation per user. The counts are maintained at write time (issue 13, scale), so every way a job
appears or disappears is checked against a count of the jobs themselves."""

from __future__ import annotations

from core.domain.models import JobQuery
from core.ports import Backend
from tests.contract.support import submit


def _counted(backend: Backend, user_id: str) -> tuple[int, object]:
    """(jobs, latest created_at) of one user, from listing their jobs."""
    items = backend.jobs.list_jobs(JobQuery(user_id=user_id, limit=500)).items
    return len(items), max((j.created_at for j in items), default=None)


def _activity(backend: Backend) -> dict[str, tuple[int, object]]:
    assert backend.admin is not None
    return {u: (a.jobs, a.last_activity) for u, a in backend.admin.user_activity().items()}


def test_counts_follow_creates_and_deletes(backend, new_user):
    alice, bob, carol = new_user(), new_user(), new_user()
    assert _activity(backend) == {}

    first = submit(backend, alice, 3)
    submit(backend, bob, 1)
    last = submit(backend, alice, 2)
    assert _activity(backend) == {
        alice.id: _counted(backend, alice.id),
        bob.id: _counted(backend, bob.id),
    }
    assert _activity(backend)[alice.id][0] == 5
    assert carol.id not in _activity(backend)

    # deleting the newest jobs moves the latest activity back; deleting them all removes the user
    backend.jobs.delete_jobs([j.id for j in last])
    assert _activity(backend)[alice.id] == (3, max(j.created_at for j in first))
    backend.jobs.delete_jobs([j.id for j in first] + [j.id for j in first])  # repeats count once
    assert alice.id not in _activity(backend)
    assert _activity(backend) == {bob.id: _counted(backend, bob.id)}


def test_removed_user_leaves_the_list(backend, new_user):
    alice, bob = new_user(), new_user()
    submit(backend, alice, 2)
    submit(backend, bob, 4)

    backend.accounts.delete_user(bob.id)

    assert _activity(backend) == {alice.id: _counted(backend, alice.id)}
