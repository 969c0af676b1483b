"""The pages on either side of a model's shutdown date (OpenAI's gpt-image-1.5, shut down
2026-12-01): the picker marks it before and hides it from that day; retrying or reusing the
prompt of one of its jobs afterwards moves to the replacement and says so."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine

from core.domain.models import JobRequest, JobStatus, Role
from core.domain.settings import Variables
from tests.ui.conftest import Person, Studio
from tests.ui.helpers import page_text, titles

GENERATE = "pages/generate.py"
HISTORY = "pages/history.py"
BEFORE = datetime(2026, 11, 20, 12, tzinfo=UTC)
SHUTDOWN_DAY = datetime(2026, 12, 1, 0, 0, 5, tzinfo=UTC)
# The UI says the date in the session's language (pages/names.py; core's API words keep ISO).
SWITCHED = "gpt-image-1.5 shut down on Dec 1, 2026, so gpt-image-2.6-sunburst is used instead."


def openai_studio(studio_factory) -> tuple[Studio, Person]:
    """OpenAI configured, no worker: jobs stay queued and nothing calls OpenAI."""
    studio = studio_factory(
        variables=Variables({"OPENAI_API_KEY": "sk-test"}), worker_enabled=False
    )
    studio.person("owner@example.com")
    return studio, studio.person("ada@example.com", Role.USER)


def old_job(studio: Studio, person: Person) -> str:
    """A gpt-image-1.5 job from before the shutdown, canceled so it can be retried."""
    request = JobRequest(
        provider="openai",
        model="gpt-image-1.5",
        prompt="a lighthouse in fog",
        params={"aspect_ratio": "3:2", "quality": "high"},
    )
    (job,) = studio.services.jobs.submit(person.user, request)
    studio.services.jobs.cancel(person.user, job.id)
    return job.id


def test_before_the_shutdown_the_picker_marks_the_model_with_its_date(studio_factory) -> None:
    studio, ada = openai_studio(studio_factory)
    with time_machine.travel(BEFORE, tick=True):
        at = studio.app(ada, GENERATE)
        at.selectbox(key="gen_provider").set_value("openai").run()
        picker = at.selectbox(key="gen_model_openai")
        assert "GPT Image 1.5 · shuts down on Dec 1, 2026" in picker.options
        assert "GPT Image 2" in picker.options  # no marker without a shutdown date
        at = picker.set_value("gpt-image-1.5").run()
    assert not at.exception
    assert [w.value.replace("\\", "") for w in at.warning] == [
        "GPT Image 1.5 shuts down on Dec 1, 2026; move to GPT Image 2.6 Sunburst."
    ]


def test_from_the_shutdown_day_the_picker_no_longer_offers_the_model(studio_factory) -> None:
    studio, ada = openai_studio(studio_factory)
    with time_machine.travel(SHUTDOWN_DAY, tick=True):
        at = studio.app(ada, GENERATE)
        at.selectbox(key="gen_provider").set_value("openai").run()
    options = at.selectbox(key="gen_model_openai").options
    assert options and not [o for o in options if "1.5" in o or "mini" in o or "ChatGPT" in o]
    assert not any("shuts down" in o for o in options)


def test_retrying_a_job_after_its_model_shut_down_uses_the_replacement_and_says_so(
    studio_factory,
) -> None:
    studio, ada = openai_studio(studio_factory)
    with time_machine.travel(BEFORE, tick=True) as clock:
        job_id = old_job(studio, ada)
        clock.move_to(SHUTDOWN_DAY)
        at = studio.app(ada, HISTORY)
        at = at.button(key=f"hist_open_{job_id}").click().run()
        at = at.button(key="hist_retry").click().run()
    assert f"{SWITCHED} Queued again as a new job." in page_text(at).replace("\\", "")
    new = next(j for j in studio.jobs(ada) if j.id != job_id)
    assert (new.model, new.status) == ("gpt-image-2.6-sunburst", JobStatus.QUEUED)
    assert new.params == {"aspect_ratio": "3:2", "quality": "high"}


def test_using_the_prompt_of_a_job_whose_model_shut_down_prefills_the_replacement(
    studio_factory,
) -> None:
    studio, ada = openai_studio(studio_factory)
    with time_machine.travel(BEFORE, tick=True) as clock:
        job_id = old_job(studio, ada)
        clock.move_to(SHUTDOWN_DAY)
        at = studio.app(ada)
        at.switch_page(HISTORY).run()
        at = at.button(key=f"hist_open_{job_id}").click().run()
        at = at.button(key="hist_use").click().run()
    assert titles(at) == ["Generate"]
    assert [i.value.replace("\\", "") for i in at.info] == [SWITCHED]
    assert at.selectbox(key="gen_provider").value == "openai"
    assert at.selectbox(key="gen_model_openai").value == "gpt-image-2.6-sunburst"
    assert at.selectbox(key="gen_aspect_ratio_gpt-image-2.6-sunburst").value == "3:2"
    assert at.text_area(key="gen_prompt").value == "a lighthouse in fog"
