"""Lineage and stored inputs on both backends: every kind and lineage field round-trips, the
inputs of an edit live in the owner's folder, `inputs_in_use` answers for source, mask and
references, and a purge deletes a job's inputs unless another job still uses them."""

from __future__ import annotations

import io
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image

from core.domain.errors import StudioError
from core.domain.models import JobKind, JobQuery, JobRequest, JobStatus, NewJob
from core.domain.settings import Settings
from core.ports import Backend
from core.providers.demo import DemoProvider
from core.services import build_services, purge
from core.services.inputs import Inputs
from tests.constants import NO_LIMIT

EDIT = JobRequest(provider="demo", model="demo-poster", prompt="gold leaf", kind=JobKind.EDIT)


def png(colour: str = "teal", size: tuple[int, int] = (24, 16)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def mask(size: tuple[int, int] = (24, 16)) -> bytes:
    img = Image.new("L", size, 0)
    img.paste(255, (2, 2, 10, 10))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def services_for(backend: Backend, settings: Settings):
    settings = replace(settings, rate_limit_per_minute=1_000, worker_enabled=False)
    return build_services(backend, {"demo": DemoProvider()}, settings)


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_kind_and_lineage_field_round_trips(backend, new_user, kind):
    user = new_user()
    parent = backend.jobs.create_jobs(
        [NewJob(str(uuid.uuid4()), user.id, EDIT, str(uuid.uuid4()), 4)],
        rate_limit_per_minute=NO_LIMIT,
    )[0]
    folder = f"{user.id}/inputs"
    request = replace(
        EDIT,
        kind=kind,
        parent_id=parent.id,
        input_path=f"{folder}/{'a' * 64}.png",
        mask_path=f"{folder}/{'b' * 64}.png",
        reference_paths=(f"{folder}/{'c' * 64}.jpg", f"{folder}/{'d' * 64}.webp"),
        params={"seed": 3},
    )
    job = backend.jobs.create_jobs(
        [NewJob(str(uuid.uuid4()), user.id, request, str(uuid.uuid4()), 4)],
        rate_limit_per_minute=NO_LIMIT,
    )[0]
    assert (job.kind, job.parent_id, job.mask_path) == (kind, parent.id, request.mask_path)
    assert job.reference_paths == request.reference_paths
    assert job.params == {"seed": 3}  # the lineage never stays in params
    assert job.request == request
    assert backend.jobs.get_job(job.id) == job
    listed = backend.jobs.list_jobs(JobQuery(user_id=user.id, limit=10)).items
    assert job in listed
    assert parent.parent_id is None and parent.reference_paths == ()


def test_inputs_in_use_answers_for_sources_masks_and_references(backend, new_user, settings):
    user = new_user()
    jobs = services_for(backend, settings).jobs
    edit = jobs.submit_iteration(user, EDIT, images=Inputs(image=png(), mask=mask()))[0]
    ref = jobs.submit_iteration(
        user, replace(EDIT, kind=JobKind.REFERENCE), images=Inputs(references=[png("red")])
    )[0]
    assert edit.input_path.startswith(f"{user.id}/inputs/")
    assert backend.blobs.get(edit.mask_path).startswith(b"\x89PNG")
    unused = f"{user.id}/inputs/{'f' * 64}.png"
    wanted = [edit.input_path, edit.mask_path, *ref.reference_paths, unused]
    assert backend.jobs.inputs_in_use(wanted) == set(wanted[:3])
    assert backend.jobs.inputs_in_use([]) == set()


def test_a_purge_keeps_inputs_another_job_uses_and_deletes_the_rest(backend, new_user, settings):
    user = new_user()
    jobs = services_for(backend, settings).jobs
    source = png()
    first = jobs.submit_iteration(user, EDIT, images=Inputs(image=source, mask=mask()))[0]
    second = jobs.submit_iteration(user, EDIT, images=Inputs(image=source))[0]
    assert first.input_path == second.input_path
    jobs.cancel(user, first.id)
    later = datetime.now(UTC) + timedelta(minutes=1)
    criteria = purge.criteria_before([JobStatus.CANCELED], later, user_id=user.id)

    report = purge.purge(backend, criteria)
    assert report.deleted_jobs == 1 and not report.errors
    assert backend.blobs.size(first.mask_path) is None  # only the purged job used it
    assert backend.blobs.size(second.input_path) is not None  # the queued job still does

    jobs.cancel(user, second.id)
    assert purge.purge(backend, criteria).deleted_jobs == 1
    assert backend.blobs.size(second.input_path) is None


def test_a_users_own_store_refuses_lineage_naming_another_users_objects(backend, new_user):
    alice, bob = new_user(), new_user()
    bobs = backend.jobs.create_jobs(
        [NewJob(str(uuid.uuid4()), bob.id, EDIT, str(uuid.uuid4()), 4)],
        rate_limit_per_minute=NO_LIMIT,
    )[0]
    if backend.name != "supabase":
        pytest.skip("the local store trusts the services' checks (one process, no RLS)")
    store = backend.for_user(alice).jobs
    for request in (
        replace(EDIT, mask_path=f"{bob.id}/inputs/{'a' * 64}.png"),
        replace(EDIT, reference_paths=(f"{bob.id}/inputs/{'a' * 64}.png",)),
        replace(EDIT, parent_id=bobs.id),
    ):
        with pytest.raises(StudioError) as refused:
            store.create_jobs(
                [NewJob(str(uuid.uuid4()), alice.id, request, str(uuid.uuid4()), 4)],
                rate_limit_per_minute=30,
            )
        assert refused.value.http_status == 403
    assert not backend.jobs.list_jobs(JobQuery(user_id=alice.id)).items
    own = replace(EDIT, mask_path=f"{alice.id}/inputs/{'a' * 64}.png")
    made = store.create_jobs(
        [NewJob(str(uuid.uuid4()), alice.id, own, str(uuid.uuid4()), 4)], rate_limit_per_minute=30
    )
    assert made[0].mask_path == own.mask_path and made[0].params == {}


def test_listing_filters_by_kind_with_keyset_pages(backend, new_user):
    user = new_user()
    kinds = [JobKind.GENERATE, JobKind.EDIT, JobKind.VARIATION, JobKind.EDIT, JobKind.COMPARE]
    made = []
    for kind in kinds:
        request = replace(EDIT, kind=kind)
        made += backend.jobs.create_jobs(
            [NewJob(str(uuid.uuid4()), user.id, request, str(uuid.uuid4()), 4)],
            rate_limit_per_minute=NO_LIMIT,
        )
    edits = [j.id for j in reversed(made) if j.kind is JobKind.EDIT]
    first = backend.jobs.list_jobs(JobQuery(user_id=user.id, kinds=(JobKind.EDIT,), limit=1))
    assert [j.id for j in first.items] == edits[:1] and first.next_cursor
    second = backend.jobs.list_jobs(
        JobQuery(user_id=user.id, kinds=(JobKind.EDIT,), limit=1, cursor=first.next_cursor)
    )
    assert [j.id for j in second.items] == edits[1:]
    both = backend.jobs.list_jobs(
        JobQuery(user_id=user.id, kinds=(JobKind.VARIATION, JobKind.COMPARE))
    )
    assert {j.kind for j in both.items} == {JobKind.VARIATION, JobKind.COMPARE}
    assert len(backend.jobs.list_jobs(JobQuery(user_id=user.id)).items) == 5
