"""Small AppTest lookups shared by the UI tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from streamlit.testing.v1 import AppTest


def button(at: AppTest, label: str) -> Any:
    """The only button (or form submit button) with this label."""
    found = [b for b in at.button if b.label == label]
    labels = [b.label for b in at.button]
    assert len(found) == 1, f"{len(found)} buttons labelled {label!r} among {labels}"
    return found[0]


def texts(at: AppTest) -> list[str]:
    """Every plain-text, markdown, caption, code and alert string on the page."""
    out: list[str] = []
    for kind in ("text", "markdown", "caption", "code", "error", "info", "warning", "success"):
        out.extend(str(e.value) for e in at.get(kind))
    return out


def page_text(at: AppTest) -> str:
    return "\n".join(texts(at))


def titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def errors(at: AppTest) -> list[str]:
    # Messages are Markdown-escaped for display; compare without the backslashes.
    return [str(e.value).replace("\\", "") for e in at.error]


def tick_live_fragments(at: AppTest) -> AppTest:
    """What the browser's st.fragment(run_every=…) timer does: rerun only the fragments the last
    run registered, not the script (AppTest has no call for it, so the rerun request carries the
    fragment ids as the frontend's does). A fragment that asks for a full-app rerun gets one."""
    from functools import partial
    from unittest import mock

    from streamlit.runtime.scriptrunner import RerunData
    from streamlit.testing.v1 import local_script_runner

    fragment_ids = list(at._fragment_storage._fragments)
    assert fragment_ids, "the last run registered no fragment"
    tick = partial(RerunData, fragment_id_queue=fragment_ids, is_auto_rerun=True)
    with mock.patch.object(local_script_runner, "RerunData", tick):
        return at.run()


def rerun_until(at: AppTest, done: Callable[[AppTest], bool], timeout: float = 20) -> AppTest:
    """Rerun `at` until `done(at)` holds (the worker finishes jobs in the background); fail
    with the page's text after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        if done(at):
            return at
        if time.monotonic() > deadline:
            raise AssertionError(page_text(at))
        time.sleep(0.05)
