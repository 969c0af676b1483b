"""Issue #14 round two: the model pickers' shutdown notices in the user's language (pages/names.py)
on the Edit and Compare pages, before OpenAI's gpt-image-1.5 shuts down (2026-12-01)."""

from __future__ import annotations

from datetime import UTC, datetime

import time_machine
from streamlit.testing.v1 import AppTest

from core.domain.models import Role
from core.domain.settings import Variables
from pages.i18n import LANG_KEY
from tests.constants import REPO_ROOT as REPO
from tests.ui.conftest import TOKEN_KEY, Person, Studio
from tests.ui.test_i18n_pages import english_words, rendered_texts

BEFORE = datetime(2026, 11, 20, 12, tzinfo=UTC)


def openai_studio(studio_factory) -> tuple[Studio, Person]:  # type: ignore[no-untyped-def]
    studio = studio_factory(
        variables=Variables({"OPENAI_API_KEY": "sk-test"}), worker_enabled=False
    )
    studio.person("owner@example.com")
    return studio, studio.person("ada@example.com", Role.USER)


def _chinese(studio: Studio, person: Person, script: str) -> AppTest:
    at = AppTest.from_file(str(REPO / script), default_timeout=30)
    at.session_state[LANG_KEY] = "zh-CN"
    at.session_state[TOKEN_KEY] = person.token
    return at.run()


def test_the_edit_pickers_mark_and_warn_in_chinese(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio, ada = openai_studio(studio_factory)
    with time_machine.travel(BEFORE, tick=True):
        at = _chinese(studio, ada, "pages/edit.py")
        at.selectbox(key="edit_provider").set_value("openai").run()
        picker = at.selectbox(key="edit_model_openai")
        assert "GPT Image 1.5 · 将于 2026年12月1日 停用" in picker.options, picker.options
        at = picker.set_value("gpt-image-1.5").run()
    assert not at.exception, at.exception
    warnings = [w.value.replace("\\", "") for w in at.warning]
    assert warnings == ["GPT Image 1.5 将于 2026年12月1日 停用；请改用 GPT Image 2.6 Sunburst。"]
    # Model names are product names, the same in every language.
    names = sorted((m.label for m in studio.services.jobs.provider("openai").models), key=len)
    texts = [text.replace("\\", "") for text in rendered_texts(at)]
    for name in reversed(names):
        texts = [text.replace(name, " ") for text in texts]
    assert english_words(texts) == []


def test_the_compare_list_marks_the_model_in_chinese(studio_factory) -> None:  # type: ignore[no-untyped-def]
    studio, ada = openai_studio(studio_factory)
    with time_machine.travel(BEFORE, tick=True):
        at = _chinese(studio, ada, "pages/compare.py")
    assert not at.exception, at.exception
    options = at.multiselect(key="cmp_pairs").options
    assert "OpenAI · GPT Image 1.5 · 将于 2026年12月1日 停用" in options, options
