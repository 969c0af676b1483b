"""Supabase round trips per render, counted through the test gateway (they are deterministic):
200 finished jobs, AppTest renders of router + page. Each render at its minimum: one session
check per script run (shared by the router, the page's guard and its live fragment), one list,
one batch of signed URLs (none when the page's URLs are known and still valid), a Generate batch
read by its batch id, no image downloaded to draw a Download button, the reviewers' email list
read once per USER_EMAILS_TTL_S."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from core.domain.settings import Settings
from tests.integration.round_trips import deployment, measure, summary

SESSION = "POST /rest/v1/rpc/session_with_profile"
LIST = "POST /rest/v1/rpc/list_jobs"
SIGN = "POST /storage/v1/object/sign/results"
POSITIONS = "POST /rest/v1/rpc/queue_positions"

EXPECTED = {
    # Generate shows the results feed (the 12 newest jobs, issue 12): one list, one batch sign
    "Generate, no batch": [SESSION, LIST, SIGN],
    "History page 1 (24 tiles)": [SESSION, LIST, SIGN],
    # the same feed again after a batch: its signed URLs are still valid and reused
    "Generate, 4-job batch done": [SESSION, LIST],
    "One live tick, 4 queued": [SESSION, LIST, POSITIONS],
    "Review queue (admin), first": [SESSION, "GET /rest/v1/profiles", LIST, SIGN],
    # the same page again: its signed URLs are still valid and reused (nothing signed)
    "Review queue (admin)": [SESSION, LIST],
    # Supabase Auth checks the JWT on every request (a signed-out JWT is refused at once) and
    # the profile is read fresh (a disabled or deleted account is refused at once); the same
    # list asked again reuses its signed URLs.
    "GET /api/jobs with a Supabase JWT": ["GET /auth/v1/user", "GET /rest/v1/profiles", LIST],
}


@pytest.fixture(scope="module")
def counts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    tmp = tmp_path_factory.mktemp("round-trips")
    settings = replace(Settings.load(env={}, secrets_path=None), data_dir=tmp / "data")
    with deployment(settings, Path(tmp)) as dep:
        return {name: requests for name, (requests, _seconds) in measure(dep).items()}


@pytest.mark.parametrize("render", list(EXPECTED))
def test_each_render_makes_its_minimum_of_requests(counts, render: str) -> None:
    assert counts[render] == EXPECTED[render], summary(counts[render])


def test_no_render_downloads_an_image(counts) -> None:
    downloads = [r for rs in counts.values() for r in rs if r.startswith("GET /storage/")]
    assert downloads == []
