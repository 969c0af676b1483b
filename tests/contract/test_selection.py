"""A gallery selection on both backends (issue 12): one zip of the selected images (opened and
checked entry by entry), the size cap refusing before anything is read, other users' ids 404
with nothing changed, and deleting a selection together."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import replace

import pytest

from core.domain.errors import Conflict, NotFound, ValidationError
from core.domain.models import JobQuery
from core.services import selection
from tests.contract.support import submit
from tests.contract.test_favourites import services_for
from tests.contract.test_your_data import finished_jobs


def test_the_zip_holds_each_selected_image_and_a_manifest(backend, new_user, settings):
    services = services_for(backend, settings)
    alice = new_user()
    done = finished_jobs(backend, alice, 3, size=300)
    queued = submit(backend, alice)[0]
    picked = [done[0].id, done[2].id, queued.id]
    out = services.jobs.selection_zip(alice, picked)
    with zipfile.ZipFile(io.BytesIO(out.read())) as archive:
        names = archive.namelist()
        assert names[0] == "jobs.json"
        assert sorted(names[1:]) == sorted(selection.zip_name(j) for j in (done[0], done[2]))
        for job in (done[0], done[2]):
            data = archive.read(selection.zip_name(job))
            assert data == job.id.encode().ljust(300, b"i")
        records = json.loads(archive.read("jobs.json"))
    assert [r["id"] for r in records] == [done[0].id, done[2].id]  # the queued one has no image
    assert records[0]["prompt"] == done[0].prompt


def test_past_the_cap_the_zip_is_refused_with_the_sizes(backend, new_user, monkeypatch):
    alice = new_user()
    done = finished_jobs(backend, alice, 2, size=600)
    read: list[str] = []
    real_get = backend.blobs.get
    monkeypatch.setattr(backend.blobs, "get", lambda p: read.append(p) or real_get(p))
    with pytest.raises(Conflict) as refused:
        selection.write_zip(backend.blobs, done, cap=1000)
    assert refused.value.reason == "zip_too_large" and "Select fewer images" in str(refused.value)
    assert read == []  # refused from the recorded sizes, before any image was read
    # a size recorded too small still cannot take the zip past the cap
    lying = [replace(j, result_meta={"bytes": 1}) for j in done]
    with pytest.raises(Conflict):
        selection.write_zip(backend.blobs, lying, cap=1000)


def test_no_image_in_the_selection_is_a_clear_refusal(backend, new_user, settings):
    services = services_for(backend, settings)
    alice = new_user()
    queued = submit(backend, alice)[0]
    with pytest.raises(Conflict) as refused:
        services.jobs.selection_zip(alice, [queued.id])
    assert refused.value.reason == "zip_no_images"


def test_other_users_ids_are_404_for_zip_and_delete(backend, new_user, settings):
    services = services_for(backend, settings)
    new_user()  # the admin
    alice, bob = new_user(), new_user()
    mine = finished_jobs(backend, alice, 1)[0]
    theirs = finished_jobs(backend, bob, 1)[0]
    with pytest.raises(NotFound):
        services.jobs.selection_zip(alice, [mine.id, theirs.id])
    with pytest.raises(NotFound):
        services.jobs.delete_selected(alice, [mine.id, theirs.id])
    assert backend.jobs.get_job(mine.id) is not None  # all or nothing
    assert backend.jobs.get_job(theirs.id) is not None
    with pytest.raises(ValidationError):
        services.jobs.delete_selected(alice, [])


def test_deleting_a_selection_deletes_rows_and_files_and_keeps_a_generating_one(
    backend, new_user, settings
):
    services = services_for(backend, settings)
    alice = new_user()
    done = finished_jobs(backend, alice, 3)
    generating = submit(backend, alice)[0]
    assert backend.jobs.claim("test-worker", 30, 1_000_000).id == generating.id
    result = services.jobs.delete_selected(alice, [done[0].id, done[1].id, generating.id])
    assert result.deleted == 2
    assert [job_id for job_id, _why in result.kept] == [generating.id]
    left = {j.id for j in backend.jobs.list_jobs(JobQuery(user_id=alice.id)).items}
    assert left == {done[2].id, generating.id}
    assert backend.blobs.size(done[0].result_path) is None
    assert backend.blobs.size(done[2].result_path) is not None
