"""Favourites (issue 12) on both backends: star and unstar through JobsService, the starred
filter of list_jobs (with keyset pages and the other filters), other users' ids are 404 and
change nothing, bad selections change nothing, and a user's own store (Supabase: their JWT,
RLS) cannot star another user's job."""

from __future__ import annotations

from dataclasses import replace

import pytest

from core.domain.errors import NotFound, ValidationError
from core.domain.models import JobKind, JobQuery
from core.domain.settings import Settings
from core.ports import Backend
from core.providers.demo import DemoProvider
from core.services import build_services
from core.services.jobs import MAX_SELECTION
from tests.contract.support import submit


def services_for(backend: Backend, settings: Settings):
    settings = replace(settings, rate_limit_per_minute=1_000, worker_enabled=False)
    return build_services(backend, {"demo": DemoProvider()}, settings)


def _starred_ids(backend: Backend, user_id: str, **filters) -> list[str]:
    page = backend.jobs.list_jobs(JobQuery(user_id=user_id, starred=True, **filters))
    return [j.id for j in page.items]


def test_star_unstar_and_filter_with_keyset_pages(backend, new_user, settings):
    services = services_for(backend, settings)
    alice = new_user()
    made = [submit(backend, alice, prompt=f"tile {i}")[0] for i in range(5)]
    assert not any(j.starred for j in made)
    newest_first = [j.id for j in reversed(made)]
    picked = [made[0].id, made[2].id, made[4].id]
    changed = services.jobs.set_starred(alice, picked, True)
    assert [j.id for j in changed] == picked and all(j.starred for j in changed)
    assert services.jobs.get_job(alice, made[2].id).starred
    assert not services.jobs.get_job(alice, made[1].id).starred

    expected = [i for i in newest_first if i in picked]
    assert _starred_ids(backend, alice.id) == expected
    first = backend.jobs.list_jobs(JobQuery(user_id=alice.id, starred=True, limit=2))
    assert [j.id for j in first.items] == expected[:2] and first.next_cursor
    rest = backend.jobs.list_jobs(
        JobQuery(user_id=alice.id, starred=True, limit=2, cursor=first.next_cursor)
    )
    assert [j.id for j in rest.items] == expected[2:] and rest.next_cursor is None
    # with the other filters: text, and kinds (its own function on Postgres)
    assert _starred_ids(backend, alice.id, text="TILE 2") == [made[2].id]
    assert _starred_ids(backend, alice.id, kinds=(JobKind.GENERATE,)) == expected
    assert _starred_ids(backend, alice.id, kinds=(JobKind.EDIT,)) == []
    # the service's listing: the star shows on each job
    page = services.jobs.list_jobs(alice, JobQuery(starred=True))
    assert [j.id for j in page.items] == expected and all(j.starred for j in page.items)

    # starring again is harmless; unstarring takes them out of the filter
    services.jobs.set_starred(alice, picked, True)
    assert _starred_ids(backend, alice.id) == expected
    services.jobs.set_starred(alice, [made[2].id, made[2].id], False)
    assert _starred_ids(backend, alice.id) == [made[4].id, made[0].id]
    assert len(backend.jobs.list_jobs(JobQuery(user_id=alice.id)).items) == 5


def test_other_users_ids_are_404_and_change_nothing(backend, new_user, settings):
    services = services_for(backend, settings)
    admin, alice, bob = new_user(), new_user(), new_user()
    assert admin.is_admin
    mine = submit(backend, alice)[0]
    theirs = submit(backend, bob)[0]
    for who, ids in (
        (alice, [mine.id, theirs.id]),
        (alice, [theirs.id]),
        (alice, ["00000000-0000-4000-8000-000000000000"]),
        (alice, ["not-a-uuid"]),
        (admin, [theirs.id]),  # an admin's favourites are their own jobs too
    ):
        with pytest.raises(NotFound):
            services.jobs.set_starred(who, ids, True)
    assert _starred_ids(backend, alice.id) == [] and _starred_ids(backend, bob.id) == []


@pytest.mark.parametrize(
    "ids",
    [[], "0d9b6c1e-0000-4000-8000-000000000000", None, 7, ["x"] * 0],
)
def test_a_malformed_selection_is_refused(backend, new_user, settings, ids):
    services = services_for(backend, settings)
    alice = new_user()
    with pytest.raises(ValidationError):
        services.jobs.set_starred(alice, ids, True)


def test_too_many_ids_or_a_non_boolean_change_nothing(backend, new_user, settings):
    services = services_for(backend, settings)
    alice = new_user()
    job = submit(backend, alice)[0]
    with pytest.raises(ValidationError):
        services.jobs.set_starred(alice, [job.id] + [f"id-{i}" for i in range(MAX_SELECTION)], True)
    with pytest.raises(ValidationError):
        services.jobs.set_starred(alice, [job.id], "yes")  # type: ignore[arg-type]
    assert _starred_ids(backend, alice.id) == []


def test_a_users_own_store_stars_only_their_own_jobs(backend, new_user):
    new_user()  # the first account is the admin
    alice, bob = new_user(), new_user()
    theirs = submit(backend, bob)[0]
    mine = submit(backend, alice)[0]
    if backend.name != "supabase":
        pytest.skip("the local store trusts the services' checks (one process, no RLS)")
    store = backend.for_user(alice).jobs
    assert store.set_starred([theirs.id], True) == 0
    assert store.set_starred([mine.id, theirs.id], True) == 1
    assert _starred_ids(backend, bob.id) == []
    assert _starred_ids(backend, alice.id) == [mine.id]
    # and a user's filtered listing never shows another user's favourites
    backend.jobs.set_starred([theirs.id], True)
    page = store.list_jobs(JobQuery(starred=True))
    assert [j.id for j in page.items] == [mine.id]
