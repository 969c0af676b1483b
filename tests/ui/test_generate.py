"""Generate: options driven by the model's capabilities, validation, one batch per submit, and
the live status of the batch's jobs."""

from __future__ import annotations

import time
from datetime import UTC

import pytest
from streamlit.testing.v1 import AppTest

import core.backends.sqlite.db
from core.domain.models import JobStatus, Role
from core.domain.settings import Variables
from core.providers.base import Capabilities
from core.providers.registry import provider_specs
from tests.fakes.full_disk import FullDisk
from tests.ui.conftest import Person, Studio
from tests.ui.helpers import button, errors, page_text, texts, tick_live_fragments, titles

GENERATE = "pages/generate.py"
OPTION_LABELS = {
    "aspect_ratio": "Aspect ratio",
    "quality": "Quality",
    "image_size": "Image size",
    "style": "Style",
    "background": "Background",
    "output_format": "Output format",
}


def shown_options(at: AppTest) -> set[str]:
    labels = {s.label for s in at.selectbox} - {"Provider", "Model"}
    names = {name for name, label in OPTION_LABELS.items() if label in labels}
    if any(t.label.startswith("Seed") for t in at.text_input):
        names.add("seed")
    if any(t.label.startswith("Negative prompt") for t in at.text_area):
        names.add("negative_prompt")
    return names


def submit(at: AppTest, prompt: str, count: int = 1) -> AppTest:
    at.text_area(key="gen_prompt").input(prompt)
    at.number_input[0].set_value(count)
    return button(at, "Generate").click().run()


def user_of(studio: Studio) -> Person:
    studio.person("owner@example.com")
    return studio.person("ada@example.com", Role.USER)


def test_signed_out_generate_page_renders_only_the_sign_in_message(studio: Studio) -> None:
    at = studio.app(script=GENERATE)
    assert titles(at) == []
    assert not at.text_area and not at.selectbox and not at.button


def test_demo_is_the_only_available_provider_without_keys_and_is_labelled(studio: Studio) -> None:
    at = studio.app(user_of(studio), GENERATE)
    assert not at.exception
    assert at.selectbox(key="gen_provider").options == ["Demo (offline, no AI)"]
    assert "not AI" in page_text(at)
    for name in ("OpenAI", "Gemini", "Ideogram"):
        assert any(name in t and "not configured" in t for t in (x.value for x in at.text))


def test_option_widgets_follow_the_chosen_models_capabilities(studio_factory) -> None:
    every_key = {spec.key_env[0]: "test-key" for spec in provider_specs() if spec.key_env}
    studio = studio_factory(variables=Variables(every_key))
    at = studio.app(user_of(studio), GENERATE)
    seen: set[frozenset[str]] = set()
    for provider in studio.runtime.providers.values():
        at.selectbox(key="gen_provider").set_value(provider.name).run()
        for model in provider.active_models():
            at.selectbox(key=f"gen_model_{provider.name}").set_value(model.id).run()
            assert not at.exception
            expected = model.capabilities.supported_params()
            assert shown_options(at) == expected, (provider.name, model.id)
            seen.add(frozenset(expected))
    assert len(seen) > 1, "the catalogue should offer models with different options"
    assert Capabilities().supported_params() == {"aspect_ratio"}


def test_empty_prompt_is_refused_and_creates_no_job(studio: Studio) -> None:
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "   ")
    assert any("cannot be empty" in e for e in errors(at)), errors(at)
    assert studio.jobs(ada) == []


def test_a_seed_that_is_not_a_whole_number_is_refused(studio: Studio) -> None:
    ada = user_of(studio)
    at = studio.app(ada, GENERATE)
    at.text_input(key="gen_seed_demo-pattern").input("12abc")
    at = submit(at, "a fox")
    assert any("seed must be a whole number" in e for e in errors(at)), errors(at)
    assert studio.jobs(ada) == []


def test_a_prompt_over_the_models_limit_states_the_limit(studio: Studio) -> None:
    ada = user_of(studio)
    limit = studio.runtime.providers["demo"].default_model.capabilities.max_prompt_chars
    at = submit(studio.app(ada, GENERATE), "x" * (limit + 1))
    assert any(f"{limit:,}" in e for e in errors(at)), errors(at)
    assert studio.jobs(ada) == []


def test_submit_queues_one_job_per_image_in_one_batch_and_shows_them_until_done(
    studio: Studio,
) -> None:
    ada = user_of(studio)
    at = studio.app(ada, GENERATE)
    at.selectbox(key="gen_aspect_ratio_demo-pattern").set_value("16:9")
    at.text_input(key="gen_seed_demo-pattern").input("42")
    at = submit(at, "A lighthouse at dawn", count=2)
    assert not errors(at)
    jobs = studio.jobs(ada)
    assert len(jobs) == 2
    assert len({j.batch_id for j in jobs}) == 1
    # A seeded batch: seed, seed+1 (four identical pictures helped nobody).
    assert sorted(j.params["seed"] for j in jobs) == [42, 43]
    assert all(j.params["aspect_ratio"] == "16:9" for j in jobs)
    assert set(at.session_state["generate_batch"]["job_ids"]) == {j.id for j in jobs}

    studio.wait_finished(ada)
    at.run()  # AppTest does not tick st.fragment(run_every=…); a rerun stands in for it
    assert all(j.status is JobStatus.DONE for j in studio.jobs(ada))
    assert len(at.get("image")) == 2
    assert [b.label for b in at.get("download_button")] == ["Download", "Download"]
    assert page_text(at).count("Done") == 2


def test_a_double_click_on_generate_makes_one_batch_and_says_already_submitted(
    studio_factory,
) -> None:
    studio = studio_factory(worker_enabled=False)
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "a red fox", count=2)
    assert not any(i.value.startswith("Already submitted") for i in at.info)
    at = button(at, "Generate").click().run()  # the same form content again at once
    assert len(studio.jobs(ada)) == 2
    assert "Queued" in page_text(at)
    assert [i.value for i in at.info if i.value.startswith("Already submitted")] == [
        "Already submitted: you sent this same prompt and options a moment ago, so no new "
        "images were queued. That batch is shown below. Change something to make a new one."
    ]
    at = submit(at, "a blue fox", count=1)  # different content is a new batch
    assert len(studio.jobs(ada)) == 3


def test_queued_jobs_show_their_place_in_line(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "a red fox", count=3)
    text = page_text(at)
    assert "#1 in line" in text and "#2 in line" in text and "#3 in line" in text


def test_over_the_rate_limit_says_when_to_try_again(studio_factory) -> None:
    studio = studio_factory(rate_limit_per_minute=2, worker_enabled=False)
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "first", count=2)
    at = submit(at, "second", count=1)
    assert any("Try again in" in e for e in errors(at)), errors(at)
    assert len(studio.jobs(ada)) == 2


def test_a_failed_job_shows_its_reason_in_plain_words(studio: Studio) -> None:
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "a cat [fail:safety]")
    studio.wait_finished(ada)
    at.run()
    job = studio.jobs(ada)[0]
    assert job.status is JobStatus.FAILED
    assert "Failed" in page_text(at)
    # The kind in the UI's words, the provider's own text quoted as it is (pages/failures.py).
    assert job.error_message and (
        f"The provider's safety filter blocked this image: “{job.error_message}”"
        in [t.value for t in at.text]
    )


def test_history_prefill_fills_the_prompt(studio: Studio) -> None:
    ada = user_of(studio)
    at = AppTest.from_file(str(studio_path(GENERATE)), default_timeout=30)
    at.session_state["auth_session_token"] = ada.token
    at.session_state["prefill"] = {
        "prompt": "**not bold** <b>x</b>",
        "provider": "demo",
        "model": "demo-poster",
        "params": {"style": "rings", "seed": 7},
    }
    at.run()
    assert at.text_area(key="gen_prompt").value == "**not bold** <b>x</b>"
    assert at.selectbox(key="gen_model_demo").value == "demo-poster"
    assert at.selectbox(key="gen_style_demo-poster").value == "rings"
    assert at.text_input(key="gen_seed_demo-poster").value == "7"


def studio_path(script: str):
    from tests.ui.conftest import REPO

    return REPO / script


def test_a_job_back_in_the_queue_after_a_temporary_error_says_it_will_retry(
    studio: Studio,
) -> None:
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "a cat [fail:transient:60]")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        (job,) = studio.jobs(ada)
        if job.attempts == 1 and job.status is JobStatus.QUEUED:
            break
        time.sleep(0.05)
    at.run()
    assert job.status is JobStatus.QUEUED and job.error_message
    # It says when, from the job's run_after (the demo's [fail:transient:60] asks for 60 s).
    at_clock = job.run_after.astimezone(UTC).strftime("%H:%M:%S")
    line = f"Attempt 1 of {job.max_attempts} failed ({job.error_message}). It is tried again in "
    shown = [c.value.replace("\\", "") for c in at.caption]
    assert any(c.startswith(line) and c.endswith(f"at {at_clock} UTC.") for c in shown), shown
    assert not any("in line" in t for t in texts(at))  # waiting, so no place in line


def test_a_full_disk_says_so_in_plain_words_and_queues_nothing(
    studio_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk()
    monkeypatch.setattr(core.backends.sqlite.db, "StudioConnection", disk.connection_class)
    studio = studio_factory(worker_enabled=False)
    ada = user_of(studio)
    at = studio.app(ada, GENERATE)
    disk.full = True
    at = submit(at, "a fox on a full disk")
    assert not at.exception
    assert any("storage is full" in e for e in errors(at)), errors(at)
    disk.full = False
    assert studio.jobs(ada) == []


def test_an_unexpected_error_from_submit_is_a_plain_message_not_a_traceback(
    studio_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    studio = studio_factory(worker_enabled=False)
    ada = user_of(studio)
    at = studio.app(ada, GENERATE)

    def broken_submit(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("internal detail /srv/data/studio.db")

    monkeypatch.setattr(studio.runtime.services.jobs, "submit", broken_submit)
    at = submit(at, "a fox")
    assert not at.exception
    assert errors(at) == [
        "Your images could not be queued because of a problem on our side. Try again later."
    ]
    assert "internal detail" not in page_text(at)


def test_the_feed_shows_recent_batches_newest_first_and_survives_a_reload(
    studio_factory,
) -> None:
    studio = studio_factory(worker_enabled=False)
    ada = user_of(studio)
    at = submit(studio.app(ada, GENERATE), "an old harbour", count=1)
    at = submit(at, "a new lighthouse", count=3)
    fresh = studio.app(ada, GENERATE)  # a reload: a new session, nothing in session_state
    prompts = [t.value for t in fresh.text if t.value in ("an old harbour", "a new lighthouse")]
    assert prompts == ["a new lighthouse", "an old harbour"]  # one heading per batch
    headings = [c.value for c in fresh.caption if "image" in c.value and "Demo" in c.value]
    assert headings[0].startswith("3 images · Demo") and headings[1].startswith("1 image · Demo")
    assert page_text(fresh).count("#") >= 4  # every queued job shows its place in line


def test_an_empty_feed_says_what_will_appear_there(studio: Studio) -> None:
    ada = user_of(studio)
    at = studio.app(ada, GENERATE)
    assert (
        "Your images appear here as soon as they are ready. Type a prompt and press Generate."
        in [c.value for c in at.caption]
    )


def test_the_options_are_remembered_after_a_visit_elsewhere(studio: Studio) -> None:
    ada = user_of(studio)
    at = studio.app(ada)  # the router, so page switches keep the session
    at.switch_page(GENERATE).run()
    at.selectbox(key="gen_aspect_ratio_demo-pattern").set_value("16:9")
    at = submit(at, "a fox")  # values inside the form count once submitted
    at.switch_page("pages/history.py").run()
    at.switch_page(GENERATE).run()
    assert at.selectbox(key="gen_aspect_ratio_demo-pattern").value == "16:9"


def test_the_prompt_model_and_provider_survive_a_live_feed_tick_before_a_visit_elsewhere(
    studio_factory,
) -> None:
    """The journey's lost prompt: the feed's live fragment ran last on Generate, then the person
    opened History. A fragment run does not run the router or the page, so a value kept only by
    setting it again on every full run was left under the widget's id, and the page change's
    cleanup dropped it. Remembered with persist_state, they are all back."""
    studio = studio_factory(worker_enabled=False)  # the job stays queued: the feed is live
    ada = studio.person("ada@example.com")
    at = studio.app(ada)
    at.switch_page(GENERATE).run()
    at.selectbox(key="gen_model_demo").set_value("demo-poster").run()
    at = submit(at, "a fox at dusk")
    at = tick_live_fragments(at)
    at.switch_page("pages/history.py").run()
    assert titles(at) == ["History"]
    at.switch_page(GENERATE).run()
    assert at.text_area(key="gen_prompt").value == "a fox at dusk"
    assert at.selectbox(key="gen_provider").value == "demo"
    assert at.selectbox(key="gen_model_demo").value == "demo-poster"
