"""App-wide CSS the theme options cannot express. Never a page of its own.

Captions (st.caption) are drawn at 60% of the text colour, 3.9:1 on white at 14 px: below WCAG
AA's 4.5:1. Here they take the text colour at 80% opacity (about 6.4:1 on the light theme's
white, 9:1 on the dark theme's background), still lighter than body text."""

from __future__ import annotations

import streamlit as st

STYLE = """
<style>
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p {
  color: inherit !important;
}
[data-testid="stCaptionContainer"] { opacity: 0.8; }
</style>
"""


def apply() -> None:
    """Called by the router on every run, signed in or not."""
    st.html(STYLE)
