"""Edit and iterate through JobsService and the worker on the real local backend: lineage,
stored inputs (checked, re-encoded, under the owner's folder, shared and released), the bad
inputs (each refused clearly, storing and queuing nothing) and the limits edits count against."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from PIL import Image

from core.domain.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    UnsupportedMediaType,
    ValidationError,
)
from core.domain.models import Job, JobKind, JobQuery, JobRequest, JobStatus
from core.services.inputs import Inputs
from tests.unit.conftest import Studio, finished_ok, make_studio

EDIT = JobRequest(provider="demo", model="demo-poster", prompt="paint it gold", kind=JobKind.EDIT)


def png(size: tuple[int, int] = (64, 48), colour: str = "navy") -> bytes:
    img = Image.new("RGB", size, colour)
    for x in range(size[0]):  # some structure, so "unchanged" means something
        img.putpixel((x, x % size[1]), (x * 3 % 256, 200, 40))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def mask(
    size: tuple[int, int] = (64, 48), box: tuple[int, int, int, int] = (8, 8, 40, 30)
) -> bytes:
    img = Image.new("L", size, 0)
    img.paste(255, box)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def stored(studio: Studio, path: str | None) -> bool:
    return path is not None and studio.backend.blobs.size(path) is not None


def all_jobs(studio: Studio) -> list[Job]:
    return studio.backend.jobs.list_jobs(JobQuery(limit=100)).items


def user_files(studio: Studio, user_id: str) -> set[str]:
    root = studio.settings.data_dir / "blobs" / user_id
    return (
        {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}
        if root.exists()
        else set()
    )


@pytest.fixture
def working(studio: Studio) -> Studio:
    studio.worker()
    return studio


def test_a_masked_edit_of_an_upload_changes_only_the_masked_pixels(working: Studio):
    source = png()
    job = working.services.jobs.submit_iteration(
        working.alice, EDIT, images=Inputs(image=source, mask=mask())
    )[0]
    assert job.kind is JobKind.EDIT and job.parent_id is None
    assert job.input_path.startswith(f"{working.alice.id}/inputs/")
    assert job.mask_path.startswith(f"{working.alice.id}/inputs/")
    done = working.wait_for([job.id], finished_ok)[0]

    with Image.open(io.BytesIO(working.backend.blobs.get(done.result_path))) as out:
        result = out.convert("RGB")
    with Image.open(io.BytesIO(source)) as src:
        original = src.convert("RGB")
    assert result.size == original.size
    changed = [
        (x, y)
        for x in range(result.width)
        for y in range(result.height)
        if result.getpixel((x, y)) != original.getpixel((x, y))
    ]
    assert changed, "the masked region must change"
    assert all(8 <= x < 40 and 8 <= y < 30 for x, y in changed)


def test_an_edit_of_a_finished_job_records_its_parent_and_copies_its_image(working: Studio):
    parent = working.services.jobs.submit(
        working.alice, replace(EDIT, kind=JobKind.GENERATE, prompt="a harbour")
    )[0]
    parent = working.wait_for([parent.id], finished_ok)[0]
    child = working.services.jobs.submit_iteration(
        working.alice, replace(EDIT, parent_id=parent.id)
    )[0]
    assert child.parent_id == parent.id and child.kind is JobKind.EDIT
    assert child.input_path != parent.result_path and "/inputs/" in child.input_path
    child_done = working.wait_for([child.id], finished_ok)[0]
    variation = working.services.jobs.submit_iteration(
        working.alice,
        JobRequest(provider="", model="", prompt="", kind=JobKind.VARIATION, parent_id=child.id),
        count=2,
    )
    assert [v.kind for v in variation] == [JobKind.VARIATION] * 2
    assert variation[0].prompt == child.prompt and variation[0].parent_id == child.id
    chain = working.services.jobs.lineage(working.alice, variation[0].id)
    assert [j.id for j in chain] == [parent.id, child_done.id, variation[0].id]
    # deleting the parent keeps the child's input (a copy), the chain just gets shorter
    working.services.jobs.delete(working.alice, parent.id)
    assert stored(working, child.input_path)
    assert [j.id for j in working.services.jobs.lineage(working.alice, child.id)] == [child.id]


def test_a_variation_takes_the_parents_prompt_and_options_with_a_new_seed(studio: Studio):
    parent = studio.submit("a red kite", provider="demo", params={"seed": 5, "style": "rings"})
    studio.worker()
    studio.wait_for([parent.id], finished_ok)
    jobs = studio.services.jobs.submit_iteration(
        studio.alice,
        JobRequest(provider="", model="", prompt="", kind=JobKind.VARIATION, parent_id=parent.id),
        count=3,
    )
    assert {j.prompt for j in jobs} == {"a red kite"}
    assert all(j.params == {"style": "rings"} for j in jobs)  # seed dropped: new seeds
    done = studio.wait_for([j.id for j in jobs], finished_ok)
    assert len({j.result_meta["seed"] for j in done}) == 3


def test_another_users_job_is_404_and_an_unfinished_one_409(studio: Studio):
    bobs = studio.submit("bob's", user=studio.bob, provider="demo")
    with pytest.raises(NotFound):
        studio.services.jobs.submit_iteration(studio.alice, replace(EDIT, parent_id=bobs.id))
    with pytest.raises(NotFound):
        studio.services.jobs.submit_iteration(
            studio.alice,
            JobRequest(provider="", model="", prompt="", kind=JobKind.VARIATION, parent_id=bobs.id),
        )
    alices = studio.submit("queued still", provider="demo")
    with pytest.raises(Conflict):
        studio.services.jobs.submit_iteration(studio.alice, replace(EDIT, parent_id=alices.id))
    with pytest.raises(NotFound):
        studio.services.jobs.submit_iteration(studio.alice, replace(EDIT, parent_id="not-a-uuid"))
    assert len(all_jobs(studio)) == 2 and not user_files(studio, studio.alice.id)


@pytest.mark.parametrize(
    ("request_", "images", "error", "words"),
    [
        (EDIT, Inputs(image=png(), mask=mask(size=(10, 10))), ValidationError, "same size"),
        (EDIT, Inputs(image=png(), mask=mask(box=(0, 0, 0, 0))), ValidationError, "marks nothing"),
        (EDIT, Inputs(image=b"GIF89a" + b"\0" * 40), UnsupportedMediaType, "PNG, JPEG or WebP"),
        (EDIT, Inputs(image=b"\x89PNG" + b"\0" * (20 << 20)), PayloadTooLarge, "20 MB"),
        (EDIT, Inputs(), ValidationError, "needs an image"),
        (replace(EDIT, model="demo-pattern"), Inputs(image=png()), ValidationError, "cannot edit"),
        (EDIT, Inputs(image=png(), references=[png()] * 4), ValidationError, "at most 4"),
        (
            replace(EDIT, kind=JobKind.REFERENCE),
            Inputs(references=[png()] * 5),
            ValidationError,
            "at most 4",
        ),
        (replace(EDIT, kind=JobKind.REFERENCE), Inputs(), ValidationError, "at least one"),
        (
            replace(EDIT, model="demo-pattern", kind=JobKind.REFERENCE),
            Inputs(references=[png()]),
            ValidationError,
            "does not take input images",
        ),
        (replace(EDIT, kind=JobKind.GENERATE), Inputs(mask=mask()), ValidationError, "mask"),
        (replace(EDIT, prompt=" "), Inputs(image=png()), ValidationError, "cannot be empty"),
    ],
)
def test_bad_inputs_are_refused_clearly_and_change_nothing(
    studio: Studio, request_: JobRequest, images: Inputs, error: type, words: str
):
    with pytest.raises(error) as caught:
        studio.services.jobs.submit_iteration(studio.alice, request_, images=images)
    assert words in caught.value.message
    assert not all_jobs(studio)
    assert not user_files(studio, studio.alice.id)


def test_a_submitted_path_outside_the_users_inputs_is_refused(studio: Studio):
    other = f"{studio.bob.id}/inputs/{'a' * 64}.png"
    for request_ in (
        replace(EDIT, input_path=other),
        replace(EDIT, kind=JobKind.REFERENCE, reference_paths=(other,)),
        replace(EDIT, input_path=f"{studio.alice.id}/x.png", mask_path=other),
    ):
        with pytest.raises(ValidationError):
            studio.services.jobs.submit(studio.alice, request_)
    assert not all_jobs(studio)


def test_edits_count_against_the_rate_limit_and_a_refusal_stores_nothing(settings):
    with make_studio(replace(settings, rate_limit_per_minute=2)) as studio:
        jobs = studio.services.jobs.submit_iteration(
            studio.alice, EDIT, images=Inputs(image=png()), count=2
        )
        assert len(jobs) == 2
        before = user_files(studio, studio.alice.id)
        with pytest.raises(RateLimited):
            studio.services.jobs.submit_iteration(
                studio.alice, EDIT, images=Inputs(image=png(colour="red"), mask=mask())
            )
        assert user_files(studio, studio.alice.id) == before  # the refused upload is gone
        with pytest.raises(RateLimited):
            studio.submit("a plain generation", provider="demo")


def test_edits_count_against_the_daily_quota(settings):
    with make_studio(replace(settings, daily_quota=1, rate_limit_per_minute=60)) as studio:
        studio.services.jobs.submit_iteration(studio.alice, EDIT, images=Inputs(image=png()))
        with pytest.raises(RateLimited) as caught:
            studio.services.jobs.submit_iteration(studio.alice, EDIT, images=Inputs(image=png()))
        assert caught.value.code == "quota_exceeded"


def test_a_shared_input_is_deleted_with_its_last_job(studio: Studio):
    source, marks = png(), mask()
    first = studio.services.jobs.submit_iteration(
        studio.alice, EDIT, images=Inputs(image=source, mask=marks)
    )[0]
    second = studio.services.jobs.submit_iteration(
        studio.alice, replace(EDIT, prompt="another"), images=Inputs(image=source)
    )[0]
    assert first.input_path == second.input_path  # same bytes, one object
    for job in (first, second):
        studio.services.jobs.cancel(studio.alice, job.id)

    studio.services.jobs.delete(studio.alice, first.id)
    assert stored(studio, second.input_path) and not stored(studio, first.mask_path)
    studio.services.jobs.delete(studio.alice, second.id)
    assert not stored(studio, second.input_path)
    assert not user_files(studio, studio.alice.id)


def test_the_worker_fails_an_edit_whose_input_was_removed(studio: Studio):
    job = studio.services.jobs.submit_iteration(studio.alice, EDIT, images=Inputs(image=png()))[0]
    studio.backend.blobs.delete([job.input_path])
    studio.worker()
    settled = studio.wait_for([job.id])[0]
    assert settled.status is JobStatus.FAILED and settled.attempts == 1
    assert settled.error_message == "The source image is no longer stored."


# ---- compare providers ----------------------------------------------------------------------


PAIRS = [("demo", "demo-pattern"), ("demo", "demo-poster"), ("fake", "demo-pattern")]


def test_a_comparison_is_one_batch_of_compare_jobs_and_keeping_one_deletes_the_rest(
    working: Studio,
):
    jobs = working.services.jobs.submit_comparison(working.alice, "a fox", PAIRS)
    assert [(j.provider, j.model) for j in jobs] == PAIRS
    assert {j.kind for j in jobs} == {JobKind.COMPARE} and len({j.batch_id for j in jobs}) == 1
    done = working.wait_for([j.id for j in jobs], finished_ok)
    deleted = working.services.jobs.keep_winner(working.alice, done[1].id)
    assert set(deleted) == {done[0].id, done[2].id}
    assert [j.id for j in all_jobs(working)] == [done[1].id]
    assert not stored(working, done[0].result_path) and stored(working, done[1].result_path)


@pytest.mark.parametrize(
    "pairs",
    [[], [PAIRS[0]], [PAIRS[0], PAIRS[0]], PAIRS * 3, [("demo", "nope"), PAIRS[1]], "demo"],
)
def test_a_bad_comparison_queues_nothing(studio: Studio, pairs):
    with pytest.raises(ValidationError):
        studio.services.jobs.submit_comparison(studio.alice, "a fox", pairs)
    assert not all_jobs(studio)


def test_keep_winner_refuses_unfinished_others_and_non_comparisons(studio: Studio):
    jobs = studio.services.jobs.submit_comparison(studio.alice, "a fox", PAIRS[:2])
    with pytest.raises(Conflict):
        studio.services.jobs.keep_winner(studio.alice, jobs[0].id)
    plain = studio.submit("plain", provider="demo")
    with pytest.raises(Conflict):
        studio.services.jobs.keep_winner(studio.alice, plain.id)
    with pytest.raises(NotFound):
        studio.services.jobs.keep_winner(studio.bob, jobs[0].id)
    assert len(all_jobs(studio)) == 3


def test_a_comparison_counts_against_the_rate_limit(settings):
    with make_studio(replace(settings, rate_limit_per_minute=2)) as studio:
        with pytest.raises(RateLimited):
            studio.services.jobs.submit_comparison(studio.alice, "a fox", PAIRS)
        assert not all_jobs(studio)


def test_the_data_export_names_a_jobs_mask_and_references(studio: Studio):
    from core.services.your_data import export_files

    job = studio.services.jobs.submit_iteration(
        studio.alice, EDIT, images=Inputs(image=png(), mask=mask(), references=[png(colour="red")])
    )[0]
    names = dict(export_files(job))
    assert names[job.mask_path].endswith(".mask.png")
    assert names[job.reference_paths[0]].endswith(".reference1.png")
    assert names[job.input_path].endswith(".input.png")
