"""What a job's progress says: elapsed time, when a retry happens, alt text (issue 12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from core.domain.models import Job, JobKind, JobStatus
from pages.i18n import translator
from pages.job_text import alt_text, elapsed_text, progress_text, retry_text, waited_text

EN, ZH = translator("en"), translator("zh-CN")

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)


def job(**kw: object) -> Job:
    base = Job(
        id="00000000-0000-4000-8000-000000000001",
        user_id="u",
        provider="demo",
        model="demo-pattern",
        kind=JobKind.GENERATE,
        prompt="a lighthouse",
        params={},
        status=JobStatus.QUEUED,
        attempts=0,
        max_attempts=4,
        created_at=NOW - timedelta(seconds=30),
        updated_at=NOW,
        run_after=NOW - timedelta(seconds=30),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_processing_says_how_long_it_has_been_generating() -> None:
    running = job(status=JobStatus.PROCESSING, attempts=1, started_at=NOW - timedelta(seconds=75))
    assert elapsed_text(running, NOW, EN) == "Generating for 1 min 15 sec."
    assert progress_text(running, NOW, EN) == "Generating for 1 min 15 sec."
    assert elapsed_text(running, NOW, ZH) == "正在生成，已用时 1分钟15秒。"
    assert elapsed_text(job(), NOW, EN) is None


def test_waiting_to_retry_says_when_from_run_after() -> None:
    waiting = job(
        attempts=1,
        error_message="Provider busy (503).",
        run_after=NOW + timedelta(seconds=42.2),
        started_at=NOW - timedelta(seconds=29),
    )
    assert retry_text(waiting, NOW, EN) == (
        "Attempt 1 of 4 failed (Provider busy (503).). "
        "It is tried again in 43 sec, at 10:00:42 UTC."
    )
    assert retry_text(waiting, NOW, ZH) == (
        "第 1 次尝试（共 4 次）失败（“Provider busy (503).”）。将在 43秒 后（UTC 10:00:42）重试。"
    )
    due = replace(waiting, run_after=NOW - timedelta(seconds=1))
    assert retry_text(due, NOW, EN) == (
        "Attempt 1 of 4 failed (Provider busy (503).). It is due again and waits for a free worker."
    )
    assert retry_text(job(), NOW, EN) is None  # never tried: nothing to retry


def test_waited_is_honest_before_the_first_start() -> None:
    assert waited_text(job(), EN) == "Not started yet."
    assert waited_text(job(started_at=NOW), EN) == "Waited 30 sec before starting."
    assert waited_text(job(started_at=NOW + timedelta(seconds=3570)), ZH) == "开始前等待了 1小时。"


def test_alt_text_comes_from_the_prompt_shortened_and_flattened() -> None:
    assert alt_text(job(prompt="a red\n kite"), EN) == "Generated image: a red kite"
    long = alt_text(job(prompt="x" * 500), EN)
    assert len(long) == len("Generated image: ") + 150 and long.endswith("…")
