"""Small AppTest lookups shared by the UI tests."""

from __future__ import annotations

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
