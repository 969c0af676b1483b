"""Issue #14 round two: a failed job's reason in the user's language (pages/failures.py). The
project's own words are said from the stored error_code; the provider's recorded text is
quoted as it is. Jobs fail for real through the demo provider's triggers; the codes no demo
trigger reaches (a lost worker, a full disk) are the stored rows with those codes."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from streamlit.testing.v1 import AppTest

from core.domain.models import JobRequest, JobStatus
from pages.failures import failure_text
from pages.i18n import LANG_KEY, translator
from tests.constants import REPO_ROOT as REPO
from tests.ui.conftest import TOKEN_KEY, Person, Studio

EN, ZH = translator("en"), translator("zh-CN")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _failed(studio: Studio, prompt: str, ada: Person | None = None):  # type: ignore[no-untyped-def]
    ada = ada or studio.person("ada@example.com")
    job = studio.services.jobs.submit(ada.user, JobRequest("demo", "demo-pattern", prompt))[0]
    studio.wait_finished(ada)
    job = studio.services.jobs.get_job(ada.user, job.id)
    assert job.status is JobStatus.FAILED, job
    return job


def test_a_safety_block_is_worded_in_chinese_and_the_providers_text_quoted(
    studio: Studio,
) -> None:
    job = _failed(studio, "a cat [fail:safety]")
    assert job.error_code == "safety_blocked"
    chinese = failure_text(job, ZH)
    assert chinese is not None and chinese.startswith("服务商的安全过滤拦截了这张图片")
    assert f"“{job.error_message}”" in chinese  # the provider's words, as they are
    english = failure_text(job, EN)
    assert english == f"The provider's safety filter blocked this image: “{job.error_message}”"


def test_an_internal_error_is_said_wholly_in_the_users_language(studio: Studio) -> None:
    job = _failed(studio, "a cat [fail:crash]")
    assert job.error_code == "internal_error" and job.error_message.startswith("Gave up after")
    chinese = failure_text(job, ZH)
    assert chinese == f"尝试 {job.attempts} 次后放弃：生成此图片时我们这边出了问题。"
    assert not re.search(r"[A-Za-z]{3}", chinese)


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            "worker_lost",
            "The worker crashed or timed out repeatedly while generating this image "
            "(3 attempts); giving up.",
            "生成此图片时工作进程反复崩溃或超时（尝试了 3 次）；已放弃。",
        ),
        (
            "storage_full",
            "Gave up after 3 attempts: The server's storage is full, so nothing was saved.",
            "尝试 3 次后放弃：服务器存储空间已满，图片未能保存。",
        ),
        (
            "transient",
            "Gave up after 3 attempts: OpenAI is overloaded (HTTP 503).",
            "尝试 3 次后放弃：服务商暂时不可用或繁忙：“OpenAI is overloaded (HTTP 503)”",
        ),
        ("something_new", "A reason from elsewhere.", "失败：“A reason from elsewhere.”"),
        ("something_new", "", "失败，没有记录原因。"),
    ],
)
def test_each_kind_of_stored_failure(
    studio: Studio, code: str, message: str, expected: str
) -> None:
    job = replace(_failed(studio, "x [fail:invalid]"), attempts=3)
    job = replace(job, error_code=code, error_message=message)
    assert failure_text(job, ZH) == expected
    assert HAN.search(expected)


def test_a_finished_job_has_no_failure_text(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    job = studio.services.jobs.submit(ada.user, JobRequest("demo", "demo-pattern", "a cat"))[0]
    studio.wait_finished(ada)
    assert failure_text(studio.services.jobs.get_job(ada.user, job.id), ZH) is None


def test_the_edit_page_shows_a_failed_result_in_chinese(studio: Studio) -> None:
    ada = studio.person("ada@example.com")
    job = _failed(studio, "a cat [fail:quota]", ada)
    at = AppTest.from_file(str(REPO / "pages/edit.py"), default_timeout=30)
    at.session_state[LANG_KEY] = "zh-CN"
    at.session_state[TOKEN_KEY] = ada.token
    at.session_state["edit_results"] = {"job_ids": [job.id], "made_by": "edit"}
    at.run()
    assert not at.exception, at.exception
    shown = [t.value for t in at.text]
    assert f"服务商的配额已用完：“{job.error_message}”" in shown, shown
