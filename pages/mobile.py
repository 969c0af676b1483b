"""Phone-sized screens: after moving to another page the sidebar (the page menu) closes, so it
does not stay open over the page the person just chose. Never a page of its own."""

from __future__ import annotations

import json

import streamlit as st
import streamlit.components.v1 as components

LAST_PAGE_KEY = "mobile_last_page"
NAVIGATIONS_KEY = "mobile_navigations"
PHONE_MAX_WIDTH = 640  # px: Streamlit overlays the sidebar on the content below this width

# Runs in a zero-height component frame of the app's own origin: closes the sidebar if it is
# open and the window is phone-sized. The sidebar may still be drawing, so it looks a few times.
_COLLAPSE = """
<script>
(function () {
  const doc = window.parent.document;
  let tries = 0;
  function close() {
    if (window.parent.innerWidth >= MAX_WIDTH) return;
    const bar = doc.querySelector('[data-testid="stSidebar"]');
    const button = doc.querySelector('[data-testid="stSidebarCollapseButton"] button');
    const open = bar && bar.getAttribute("data-collapsed") === "false";
    if (open && button) { button.click(); return; }
    if (tries++ < 10) setTimeout(close, 150);
  }
  close();
})();
</script>
"""


def collapse_sidebar_after_navigation(page_id: str) -> None:
    """Called by the router with the page about to run: on a change of page, close the
    sidebar on a phone. The first page of a visit needs nothing (Streamlit starts it closed)."""
    last = st.session_state.get(LAST_PAGE_KEY)
    st.session_state[LAST_PAGE_KEY] = page_id
    if last is None or last == page_id:
        return
    count = int(st.session_state.get(NAVIGATIONS_KEY, 0)) + 1
    st.session_state[NAVIGATIONS_KEY] = count
    # The count makes each frame new: an unchanged one would be kept and its script not rerun.
    script = _COLLAPSE.replace("MAX_WIDTH", json.dumps(PHONE_MAX_WIDTH))
    with st.sidebar:
        components.html(f"<!-- navigation {count} -->{script}", height=0)
