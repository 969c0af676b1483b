"""History: own jobs newest first with filters and keyset pages; a job's details as plain text;
retry, cancel, delete and "use this prompt"."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from core.domain.models import JobRequest, JobStatus, Role
from core.ports import BlobStore
from tests.ui.conftest import Person, Studio
from tests.ui.helpers import button, page_text, titles

HISTORY = "pages/history.py"


def people(studio: Studio) -> tuple[Person, Person]:
    studio.person("owner@example.com")
    return studio.person("ada@example.com", Role.USER), studio.person("bob@example.com")


def submit(studio: Studio, person: Person, prompt: str, count: int = 1) -> list[str]:
    request = JobRequest(provider="demo", model="demo-pattern", prompt=prompt)
    return [j.id for j in studio.services.jobs.submit(person.user, request, count=count)]


def grid_prompts(at: AppTest) -> list[str]:
    """The prompt on each gallery tile (its open button), in order."""
    return [b.label for b in at.button if (b.key or "").startswith("hist_open_")]


def open_job(at: AppTest, job_id: str) -> AppTest:
    """Click a tile: the lightbox opens and the URL names the job."""
    at = at.button(key=f"hist_open_{job_id}").click().run()
    assert at.query_params.get("job") == job_id
    return at


def test_signed_out_history_renders_only_the_sign_in_message(studio: Studio) -> None:
    at = studio.app(script=HISTORY)
    assert titles(at) == []
    assert not at.button and not at.multiselect


def test_own_jobs_newest_first_with_status_badges_and_thumbnails(studio: Studio) -> None:
    ada, bob = people(studio)
    submit(studio, ada, "an old lighthouse")
    studio.wait_finished(ada)
    submit(studio, ada, "a blocked cat [fail:safety]")
    submit(studio, bob, "bob's secret garden")
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    assert not at.exception
    assert grid_prompts(at) == ["a blocked cat [fail:safety]", "an old lighthouse"]
    text = page_text(at)
    assert "Failed" in text and "Done" in text
    assert "blocked this prompt" in " ".join(str(h.proto.body) for h in at.get("html"))
    assert "secret garden" not in text
    assert len(at.get("image")) == 1  # only the finished job has a thumbnail


def test_filters_by_status_provider_and_prompt_text(studio: Studio) -> None:
    ada, _bob = people(studio)
    submit(studio, ada, "First light over the bay")
    submit(studio, ada, "a blocked cat [fail:safety]")
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    at.multiselect(key="hist_status").set_value(["failed"]).run()
    assert grid_prompts(at) == ["a blocked cat [fail:safety]"]
    at.multiselect(key="hist_status").set_value([]).run()
    at.text_input(key="hist_text").input("FIRST LIGHT").run()
    assert grid_prompts(at) == ["First light over the bay"]
    at.text_input(key="hist_text").input("").run()
    at.multiselect(key="hist_provider").set_value(["openai"]).run()
    assert grid_prompts(at) == []
    assert "No jobs match these filters." in page_text(at)
    at = button(at, "Clear filters").click().run()
    assert at.multiselect(key="hist_provider").value == []
    assert len(grid_prompts(at)) == 2
    at.multiselect(key="hist_provider").set_value(["demo"]).run()
    assert len(grid_prompts(at)) == 2


def test_no_jobs_at_all_points_to_generate(studio: Studio) -> None:
    ada, _bob = people(studio)
    at = studio.app(ada, HISTORY)
    assert "You have no images yet. Make your first one on the Generate page." in page_text(at)
    assert button(at, "Go to Generate")


def test_pages_of_24_with_next_and_previous(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada, _bob = people(studio)
    for n in range(26):
        submit(studio, ada, f"picture number {n:02d}")
    at = studio.app(ada, HISTORY)
    first = grid_prompts(at)
    assert len(first) == 24 and first[0] == "picture number 25"
    assert "Page 1" in page_text(at)
    assert button(at, "Previous").disabled
    at = button(at, "Next").click().run()
    second = grid_prompts(at)
    assert second == ["picture number 01", "picture number 00"]
    assert "Page 2" in page_text(at)
    assert button(at, "Next").disabled
    at = button(at, "Previous").click().run()
    assert grid_prompts(at) == first


def test_open_job_shows_prompt_as_plain_text_with_params_timings_and_attempts(
    studio: Studio,
) -> None:
    ada, _bob = people(studio)
    prompt = "**not bold** <img src=x onerror=alert(1)> [link](http://evil) # heading"
    request = JobRequest(
        provider="demo", model="demo-pattern", prompt=prompt, params={"style": "rings", "seed": 3}
    )
    (job,) = studio.services.jobs.submit(ada.user, request)
    studio.wait_finished(ada)
    at = studio.app(ada, HISTORY)
    at = open_job(at, job.id)
    assert not at.exception
    assert [c.value for c in at.code] == [prompt]
    assert all(prompt not in str(m.value) for m in at.markdown)
    assert at.json[0].value and '"seed": 3' in at.json[0].value.replace("'", '"')
    text = page_text(at)
    assert "Attempts: 1 of 4" in text
    assert "Created" in text and "Finished" in text
    assert "Review: unreviewed" in text
    assert len(at.get("image")) == 2  # the tile's thumbnail and the lightbox's full image
    assert [b.label for b in at.get("download_button")] == ["Download"]


def test_cancel_a_queued_job_then_retry_it_as_a_new_job(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada, _bob = people(studio)
    (job_id,) = submit(studio, ada, "a red kite")
    at = studio.app(ada, HISTORY)
    at = open_job(at, job_id)
    at = at.button(key="hist_cancel").click().run()
    assert "Canceled." in page_text(at)
    assert studio.services.jobs.get_job(ada.user, job_id).status is JobStatus.CANCELED
    at = at.button(key="hist_retry").click().run()
    assert "Queued again as a new job." in page_text(at)
    jobs = studio.jobs(ada)
    assert len(jobs) == 2
    new = next(j for j in jobs if j.id != job_id)
    assert new.status is JobStatus.QUEUED and new.prompt == "a red kite"


def test_delete_removes_the_job_and_its_files(studio: Studio) -> None:
    ada, _bob = people(studio)
    (job_id,) = submit(studio, ada, "a short-lived picture")
    (job,) = studio.wait_finished(ada)
    blobs = studio.runtime.backend.blobs
    assert job.result_path and blobs.size(job.result_path)
    at = studio.app(ada, HISTORY)
    at = open_job(at, job_id)
    at = at.button(key="hist_delete").click().run()
    assert "Deleted." in page_text(at)
    assert studio.jobs(ada) == []
    assert blobs.size(job.result_path) is None
    assert job.thumb_path and blobs.size(job.thumb_path) is None


def test_use_this_prompt_opens_generate_prefilled(studio: Studio) -> None:
    ada, _bob = people(studio)
    request = JobRequest(
        provider="demo", model="demo-poster", prompt="a harbour at night", params={"seed": 9}
    )
    (job,) = studio.services.jobs.submit(ada.user, request)
    studio.wait_finished(ada)
    at = studio.app(ada)
    at.switch_page("pages/history.py").run()
    at = open_job(at, job.id)
    at = at.button(key="hist_use").click().run()
    assert titles(at) == ["Generate"]
    assert at.text_area(key="gen_prompt").value == "a harbour at night"
    assert at.selectbox(key="gen_model_demo").value == "demo-poster"
    assert at.text_input(key="gen_seed_demo-poster").value == "9"


def test_another_users_job_behaves_like_a_missing_one(studio: Studio) -> None:
    ada, bob = people(studio)
    (bobs_job,) = submit(studio, bob, "bob's private prompt")
    at = AppTest.from_file(str(studio_path(HISTORY)), default_timeout=30)
    at.session_state["auth_session_token"] = ada.token
    at.query_params["job"] = bobs_job  # a deep link to someone else's job
    at.run()
    assert "That job no longer exists, or it is not yours." in page_text(at)
    assert "private prompt" not in page_text(at)


def test_filters_and_page_survive_opening_a_job_and_coming_back(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada, _bob = people(studio)
    for n in range(26):
        submit(studio, ada, f"picture number {n:02d}")
    submit(studio, ada, "something else")
    at = studio.app(ada, HISTORY)
    at.text_input(key="hist_text").input("picture").run()
    at = button(at, "Next").click().run()
    assert grid_prompts(at) == ["picture number 01", "picture number 00"]
    opened = next(b for b in at.button if (b.key or "").startswith("hist_open_"))
    at = opened.click().run()
    at = button(at, "Back to the gallery").click().run()
    assert "job" not in at.query_params
    assert at.text_input(key="hist_text").value == "picture"
    assert grid_prompts(at) == ["picture number 01", "picture number 00"]
    assert "Page 2" in page_text(at)


class _AbsoluteUrlBlobs:
    """The local blob store answering signed URLs the way Supabase does (absolute https)."""

    def __init__(self, inner: BlobStore) -> None:
        self.inner = inner
        self.reads: list[str] = []

    def signed_urls(self, paths: list[str], ttl: int) -> dict[str, str]:
        return {p: f"https://cdn.example.test/{p}?token=t" for p in paths}

    def get(self, path: str) -> bytes:
        self.reads.append(path)
        return self.inner.get(path)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_images_with_absolute_urls_go_to_the_browser_and_relative_ones_as_bytes(
    studio: Studio,
) -> None:
    ada, _bob = people(studio)
    (job_id,) = submit(studio, ada, "a lighthouse")
    (job,) = studio.wait_finished(ada)
    local = studio.app(ada, HISTORY)
    (relative,) = local.get("image")
    assert not relative.value[0].startswith("https://")  # bytes served by Streamlit's media

    blobs = _AbsoluteUrlBlobs(studio.runtime.backend.blobs)
    studio.runtime.backend.blobs = blobs  # type: ignore[assignment]
    remote = studio.app(ada, HISTORY)
    (absolute,) = remote.get("image")
    assert absolute.value == [f"https://cdn.example.test/{job.thumb_path}?token=t"]
    assert blobs.reads == []
    assert job_id == job.id


def studio_path(script: str):
    from tests.ui.conftest import REPO

    return REPO / script


def test_a_deep_link_opens_the_lightbox_in_a_fresh_session(studio: Studio) -> None:
    """Reload, or the link shared with the owner: ?job=ID opens that job over the gallery."""
    ada, _bob = people(studio)
    (job_id,) = submit(studio, ada, "a shared lighthouse")
    studio.wait_finished(ada)
    at = AppTest.from_file(str(studio_path(HISTORY)), default_timeout=30)
    at.session_state["auth_session_token"] = ada.token
    at.query_params["job"] = job_id
    at.run()
    assert not at.exception
    assert [c.value for c in at.code] == ["a shared lighthouse"]
    assert grid_prompts(at) == ["a shared lighthouse"]  # the gallery is behind it


def test_a_deep_link_that_is_not_a_job_id_shows_the_gallery(studio: Studio) -> None:
    ada, _bob = people(studio)
    at = AppTest.from_file(str(studio_path(HISTORY)), default_timeout=30)
    at.session_state["auth_session_token"] = ada.token
    at.query_params["job"] = "../../etc/passwd"
    at.run()
    assert not at.exception
    assert "job" not in at.query_params
    assert not at.code


def test_previous_and_next_walk_the_gallery_page_in_order(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada, _bob = people(studio)
    ids = [submit(studio, ada, f"picture {n}")[0] for n in range(3)]  # newest is ids[2]
    at = open_job(studio.app(ada, HISTORY), ids[1])
    assert at.button(key="hist_prev").disabled is False
    at = at.button(key="hist_next").click().run()
    assert at.query_params.get("job") == ids[0]
    assert at.button(key="hist_next").disabled  # the last tile of the page
    at = at.button(key="hist_prev").click().run()
    at = at.button(key="hist_prev").click().run()
    assert at.query_params.get("job") == ids[2]
    assert at.button(key="hist_prev").disabled
    assert [c.value for c in at.code] == ["picture 2"]


def test_every_tile_has_a_unique_accessible_name(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada, _bob = people(studio)
    submit(studio, ada, "a red fox", count=3)
    submit(studio, ada, "a blue fox")
    at = studio.app(ada, HISTORY)
    labels = grid_prompts(at)
    assert labels == [
        "a blue fox",
        "a red fox (1 of 3)",
        "a red fox (2 of 3)",
        "a red fox (3 of 3)",
    ]


def test_a_job_waiting_to_retry_says_when_not_waited_zero(studio: Studio) -> None:
    ada, _bob = people(studio)
    (job_id,) = submit(studio, ada, "a cat [fail:transient:60]")
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        job = studio.services.jobs.get_job(ada.user, job_id)
        if job.attempts == 1 and job.status is JobStatus.QUEUED:
            break
        time.sleep(0.05)
    at = open_job(studio.app(ada, HISTORY), job_id)
    text = page_text(at)
    assert "It is tried again in" in text and " UTC." in text
    assert "Waited 0.0 s" not in text
