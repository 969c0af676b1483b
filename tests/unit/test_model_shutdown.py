"""A model's shutdown date, on either side of it, for what the service and the worker do: a job
queued before the date fails with the reason after it (never reaching the provider), and a
retry after it moves to the named replacement."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from core.domain.errors import ValidationError
from core.domain.models import JobRequest, JobStatus
from core.providers.base import Capabilities, ModelInfo
from core.providers.demo import DemoProvider
from tests.unit.conftest import Studio

DAY_BEFORE = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
SHUTDOWN_DAY = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)
OLD = ModelInfo(
    "fake-old",
    "Old fake",
    DemoProvider.models[0].capabilities,
    deprecated_on=date(2026, 6, 2),
    shuts_down_on=date(2026, 12, 1),
    replacement="demo-poster",
)
REASON = "fake-old shut down on 2026-12-01; use demo-poster."


@pytest.fixture
def aging(studio: Studio) -> Studio:
    """The fake provider's catalogue with a model that shuts down on 2026-12-01."""
    studio.fake.models = (*DemoProvider.models, OLD)  # type: ignore[misc]
    return studio


def test_before_the_shutdown_a_job_for_the_model_runs(aging: Studio) -> None:
    with time_machine.travel(datetime(2026, 11, 30, 12, tzinfo=UTC), tick=True):
        job = aging.submit(model="fake-old")
        aging.worker()
        (done,) = aging.wait_for([job.id])
    assert done.status is JobStatus.DONE
    assert aging.fake.calls == 1


def test_a_job_queued_before_the_shutdown_fails_with_the_reason_without_a_provider_call(
    aging: Studio,
) -> None:
    with time_machine.travel(DAY_BEFORE, tick=True) as clock:
        job = aging.submit(model="fake-old")
        clock.move_to(SHUTDOWN_DAY)
        aging.worker()
        (failed,) = aging.wait_for([job.id])
    assert (failed.status, failed.error_code, failed.error_message) == (
        JobStatus.FAILED,
        "model_unavailable",
        REASON,
    )
    assert aging.fake.calls == 0


def test_from_the_shutdown_day_a_submit_is_refused_naming_the_replacement(aging: Studio) -> None:
    with time_machine.travel(SHUTDOWN_DAY, tick=True), pytest.raises(ValidationError) as refused:
        aging.submit(model="fake-old")
    assert refused.value.message == REASON
    assert aging.backend.jobs.queue_depth().queued == 0


def test_a_retry_after_the_shutdown_moves_to_the_replacement_keeping_its_options(
    aging: Studio,
) -> None:
    params = {"quality": "draft", "seed": 5, "style": "rings"}
    with time_machine.travel(DAY_BEFORE, tick=True) as clock:
        job = aging.submit(model="fake-old", params=params)
        aging.services.jobs.cancel(aging.alice, job.id)
        same_day = aging.services.jobs.retry(aging.alice, job.id)
        clock.move_to(SHUTDOWN_DAY)
        moved = aging.services.jobs.retry(aging.alice, job.id)
    assert same_day.model == "fake-old"
    assert (moved.model, moved.params, moved.prompt) == ("demo-poster", params, job.prompt)


def test_current_request_drops_options_the_replacement_does_not_take(aging: Studio) -> None:
    narrow = ModelInfo("fake-narrow", "Narrow", Capabilities(aspect_ratios=("1:1", "3:2")))
    gone = ModelInfo(
        "fake-gone",
        "Gone",
        DemoProvider.models[0].capabilities,
        shuts_down_on=date(2026, 1, 1),
        replacement="fake-narrow",
    )
    aging.fake.models = (*DemoProvider.models, narrow, gone)  # type: ignore[misc]
    params = {"aspect_ratio": "3:2", "quality": "high", "seed": 2}
    request = JobRequest(provider="fake", model="fake-gone", prompt="x", params=params)
    moved = aging.services.jobs.current_request(request)
    assert (moved.model, moved.params) == ("fake-narrow", {"aspect_ratio": "3:2"})
    running = JobRequest(provider="fake", model="demo-pattern", prompt="x", params=params)
    assert aging.services.jobs.current_request(running) == running
