"""Live views wait for the change signal instead of sleeping: a fragment rerun that is waiting
when one of the user's jobs changes redraws at once (in the same tick), with the job's new
state; nothing changing, it ends after the backstop poll with what it drew."""

from __future__ import annotations

import threading
import time

from streamlit.testing.v1 import AppTest

from core.domain.models import JobRequest
from tests.ui.conftest import Person, Studio
from tests.ui.helpers import page_text, tick_live_fragments, titles


def _queued_batch(studio: Studio, person: Person) -> tuple[AppTest, str]:
    request = JobRequest(provider="demo", model="demo-pattern", prompt="a paper kite")
    (job,) = studio.services.jobs.submit(person.user, request)
    at = studio.app(person)
    at.session_state["generate_batch"] = {"job_ids": [job.id], "batch_id": job.batch_id}
    at.run()
    assert titles(at) == ["Generate"] and "Queued" in page_text(at)
    return at, job.id


def _claim_soon(studio: Studio, delay: float) -> threading.Thread:
    """Another worker takes the job `delay` seconds from now (the store signals the change)."""

    def claim() -> None:
        time.sleep(delay)
        assert studio.runtime.backend.jobs.claim("elsewhere", 60, 3) is not None

    thread = threading.Thread(target=claim)
    thread.start()
    return thread


def test_a_waiting_fragment_redraws_as_soon_as_a_job_changes(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada = studio.person("ada@example.com")
    at, _job_id = _queued_batch(studio, ada)

    thread = _claim_soon(studio, 0.3)  # while the tick's fragment waits for a change
    at = tick_live_fragments(at)
    thread.join()

    assert not at.exception
    assert "Processing" in page_text(at) and "Queued" not in page_text(at)


def test_with_nothing_changing_a_tick_draws_once_and_ends(studio_factory) -> None:
    studio = studio_factory(worker_enabled=False)
    ada = studio.person("ada@example.com")
    at, _job_id = _queued_batch(studio, ada)

    at = tick_live_fragments(at)

    assert not at.exception and "Queued" in page_text(at)
