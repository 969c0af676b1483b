"""The edit-and-iterate pages under AppTest: Compare (one batch, side by side, keep the winner),
the shared Edit / Variations actions on a finished image, and the Edit page's upload path."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.domain.models import JobKind, JobRequest
from tests.constants import REPO_ROOT as REPO
from tests.ui.conftest import Person, Studio
from tests.ui.helpers import button, page_text, rerun_until, titles

COMPARE = "pages/compare.py"
EDIT = "pages/edit.py"
HISTORY = "pages/history.py"


def person(studio: Studio) -> Person:
    studio.person("owner@example.com")
    return studio.person("ada@example.com")


def test_compare_sends_one_batch_and_keeping_one_deletes_the_others(studio: Studio) -> None:
    ada = person(studio)
    at = studio.app(ada, COMPARE)
    assert titles(at) == ["Compare providers"]
    at.text_area(key="cmp_prompt").input("a fox in snow")
    at.multiselect(key="cmp_pairs").set_value([("demo", "demo-pattern"), ("demo", "demo-poster")])
    at.button[0].click()  # the form's submit
    at.run()
    jobs = studio.jobs(ada)
    assert len(jobs) == 2 and {j.kind for j in jobs} == {JobKind.COMPARE}
    assert len({j.batch_id for j in jobs}) == 1
    studio.wait_finished(ada)
    at = rerun_until(at, lambda a: any((b.key or "").startswith("cmp_keep_") for b in a.button))
    text = page_text(at)
    assert "Demo pattern" in text and "free" in text
    keep = next(b for b in at.button if (b.key or "").startswith("cmp_keep_"))
    kept = keep.key.removeprefix("cmp_keep_")
    keep.click()
    at.run()
    assert [j.id for j in studio.jobs(ada)] == [kept]
    assert "deleted 1 other image" in page_text(at)


def test_history_details_offer_edit_and_variations_for_a_finished_image(studio: Studio) -> None:
    ada = person(studio)
    request = JobRequest(provider="demo", model="demo-poster", prompt="a lighthouse")
    job = studio.services.jobs.submit(ada.user, request)[0]
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    at.query_params["job"] = job.id  # the lightbox is opened by the URL (?job=ID)
    at.run()
    assert button(at, "Edit") is not None
    at.button(key=f"hist_{job.id}_vary").click()
    at.run()
    variations = [j for j in studio.jobs(ada) if j.kind is JobKind.VARIATION]
    assert len(variations) == 2 and {v.parent_id for v in variations} == {job.id}
    assert {v.prompt for v in variations} == {"a lighthouse"}


def test_the_edit_page_lists_only_models_that_edit_and_needs_an_image(studio: Studio) -> None:
    ada = person(studio)
    at = studio.app(ada, EDIT)
    assert not at.exception
    assert titles(at) == ["Edit"]
    assert at.selectbox(key="edit_model_demo").options == ["Demo poster (can edit)"]
    submit = next(b for b in at.button if b.label == "Edit image")
    assert submit.disabled  # no image yet


def test_the_edit_page_opens_on_a_finished_job_and_edits_it_whole(studio: Studio) -> None:
    ada = person(studio)
    request = JobRequest(provider="demo", model="demo-poster", prompt="a lighthouse")
    job = studio.services.jobs.submit(ada.user, request)[0]
    studio.wait_finished(ada)
    at = AppTest.from_file(str(REPO / EDIT), default_timeout=30)
    at.session_state["auth_session_token"] = ada.token
    at.query_params["job"] = job.id
    at.run()
    assert not at.exception, at.exception
    assert "Editing: a lighthouse" in page_text(at).replace("\\", "")
    at.text_area(key="edit_prompt").input("make it night")
    next(b for b in at.button if b.label == "Edit image").click()
    at.run()
    edits = [j for j in studio.jobs(ada) if j.kind is JobKind.EDIT]
    assert len(edits) == 1 and edits[0].parent_id == job.id and edits[0].mask_path is None


def test_references_mode_offers_only_models_that_take_images(studio: Studio) -> None:
    ada = person(studio)
    at = studio.app(ada, EDIT)
    at.segmented_control(key="edit_mode").set_value("references").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="ref_model_demo").options == ["Demo poster (can edit)"]
    assert next(b for b in at.button if b.label == "Generate").disabled  # no reference yet


def test_history_details_show_the_lineage_chain_and_open_a_link(studio: Studio) -> None:
    ada = person(studio)
    request = JobRequest(provider="demo", model="demo-poster", prompt="a lighthouse")
    parent = studio.services.jobs.submit(ada.user, request)[0]
    studio.wait_finished(ada)
    child = studio.services.jobs.submit_iteration(
        ada.user,
        JobRequest(provider="", model="", prompt="", kind=JobKind.VARIATION, parent_id=parent.id),
    )[0]
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    at.query_params["job"] = child.id
    at.run()
    assert "Made from" in page_text(at)
    assert "variation · a lighthouse" in page_text(at).replace("\\", "")
    at.button(key=f"hist_chain_open_{parent.id}").click()
    at.run()
    assert at.query_params["job"] in (parent.id, [parent.id])
    assert "Made from" not in page_text(at)  # the parent has no parent


def test_history_filters_by_kind(studio: Studio) -> None:
    ada = person(studio)
    request = JobRequest(provider="demo", model="demo-poster", prompt="a lighthouse")
    parent = studio.services.jobs.submit(ada.user, request)[0]
    studio.wait_finished(ada)
    studio.services.jobs.submit_iteration(
        ada.user,
        JobRequest(provider="", model="", prompt="", kind=JobKind.VARIATION, parent_id=parent.id),
    )
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    assert len([b for b in at.button if (b.key or "").startswith("hist_open_")]) == 2
    at.multiselect(key="hist_kind").set_value(["variation"]).run()
    opened = [b.key for b in at.button if (b.key or "").startswith("hist_open_")]
    assert len(opened) == 1 and opened[0] != f"hist_open_{parent.id}"
