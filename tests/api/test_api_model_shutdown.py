"""POST /api/jobs on either side of a model's shutdown date (OpenAI's gpt-image-1.5, shut down
2026-12-01): accepted the day before, 422 naming the replacement from 00:00 UTC that day."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
import time_machine
from starlette.testclient import TestClient

from core.domain.settings import Settings
from tests.api.conftest import ApiUser

BODY = {"provider": "openai", "type": "image", "prompt": "a red kite", "model": "gpt-image-1.5"}


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """OpenAI configured (nothing is called: no worker runs)."""
    return replace(
        settings.with_variables(OPENAI_API_KEY="sk-test"),
        worker_enabled=False,
        rate_limit_per_minute=1000,
    )


@time_machine.travel(datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC), tick=False)
def test_the_day_before_the_shutdown_the_model_is_accepted(
    client: TestClient, alice: ApiUser
) -> None:
    reply = client.post("/api/jobs", json=BODY, headers=alice.headers)
    assert reply.status_code == 201, reply.text
    job = client.get(f"/api/jobs?id={reply.json()['id']}", headers=alice.headers).json()
    assert (job["model"], job["status"]) == ("gpt-image-1.5", "queued")


@time_machine.travel(datetime(2026, 12, 1, 0, 0, 0, tzinfo=UTC), tick=False)
def test_from_the_shutdown_day_the_model_is_refused_with_422_and_nothing_is_queued(
    client: TestClient, alice: ApiUser
) -> None:
    reply = client.post("/api/jobs", json=BODY, headers=alice.headers)
    assert reply.status_code == 422
    assert reply.json()["error"]["message"] == (
        "gpt-image-1.5 shut down on 2026-12-01; use gpt-image-2.6-sunburst."
    )
    assert client.get("/api/jobs", headers=alice.headers).json()["items"] == []
