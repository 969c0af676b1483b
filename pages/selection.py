"""Selecting several images of the History gallery (issue 12): "Select images" puts a box on
every tile; the toolbar then stars the selection, downloads it as one zip (built on click, in a
spooled temporary file, at most core.services.selection.ZIP_CAP_BYTES of images: past that it
says so instead of offering the download) or deletes it together. The selection is a set of
job ids in the session, so it survives changing page or filters. Never a page of its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from core.domain.errors import AuthRequired, NotFound, StudioError
from core.domain.models import Job, User
from pages import widgets
from pages.i18n import fmt_bytes, t

MODE_KEY = "hist_selecting"
SELECTED_KEY = "history_selected"  # {job id: True}, in the order ticked
BOX_PREFIX = "hist_sel_"
KEPT_KEY = "history_kept"  # why images of a deleted selection stayed (shown once)


def selected() -> list[str]:
    return list(st.session_state.get(SELECTED_KEY) or {})


def _set(ids: list[str]) -> None:
    st.session_state[SELECTED_KEY] = dict.fromkeys(ids, True)


def clear() -> None:
    _set([])


def _mode_changed() -> None:
    if not st.session_state.get(MODE_KEY):
        clear()


def mode_toggle() -> None:
    """The "Select images" switch; turning it off forgets the selection."""
    st.toggle(t("favourites.select_mode"), key=MODE_KEY, on_change=_mode_changed)


def active() -> bool:
    return bool(st.session_state.get(MODE_KEY))


def _ticked(job_id: str) -> None:
    ids = selected()
    if st.session_state.get(BOX_PREFIX + job_id):
        ids.append(job_id)
    else:
        ids = [i for i in ids if i != job_id]
    _set(list(dict.fromkeys(ids)))


def checkbox(job: Job, name: str) -> None:
    """A tile's select box (its accessible name says which image)."""
    key = BOX_PREFIX + job.id
    st.session_state[key] = job.id in (st.session_state.get(SELECTED_KEY) or {})
    st.checkbox(
        t("favourites.select_named", name=name),
        key=key,
        label_visibility="collapsed",
        on_change=_ticked,
        args=(job.id,),
    )


def toolbar(user: User, jobs: list[Job], *, on_done: Callable[[str], None]) -> None:
    """What to do with the selection: select the page, clear, star, zip, delete."""
    svc = widgets.services()
    ids = selected()
    for reason in st.session_state.pop(KEPT_KEY, None) or []:
        st.warning(t("favourites.kept", reason=reason))
    with st.container(border=True, key="hist_selection"):
        if ids:
            st.text(t("favourites.selected", count=len(ids)))
        else:
            st.caption(t("favourites.select_hint"))
        with st.container(horizontal=True, key="hist_selection_actions"):
            if st.button(
                t("favourites.select_page"), key="hist_sel_page", icon=":material/done_all:"
            ):
                _set([*ids, *(j.id for j in jobs)])
                st.rerun(scope="app")
            if not ids:
                return
            if st.button(t("favourites.clear_selection"), key="hist_sel_clear"):
                clear()
                st.rerun(scope="app")
            try:
                if st.button(
                    t("favourites.star_selection"), key="hist_sel_star", icon=":material/star:"
                ):
                    svc.jobs.set_starred(user, ids, True)
                    on_done(t("favourites.starred_selection", count=len(ids)))
                    st.rerun(scope="app")
                _zip_button(user, ids)
                _delete_popover(user, ids, on_done)
            except AuthRequired:
                raise
            except NotFound as exc:
                clear()  # an image of the selection went meanwhile: start again
                widgets.show_error(exc)
            except StudioError as exc:
                widgets.show_error(exc)


def _zip_button(user: User, ids: list[str]) -> None:
    svc = widgets.services()
    try:
        count, size = svc.jobs.check_selection_zip(user, ids)
    except NotFound:
        raise
    except StudioError as exc:  # nothing to zip, or past the cap: say so, offer nothing
        widgets.show_error(exc)
        return

    def build() -> bytes:  # on click, on Streamlit's download thread
        # Streamlit serves a download from bytes it holds (its media file manager takes no
        # stream), so the finished zip is read once here; the cap bounds it.
        with svc.jobs.selection_zip(user, ids) as out:
            return out.read()

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    st.download_button(
        t("favourites.zip"),
        data=build,
        file_name=f"images-{stamp}.zip",
        mime="application/zip",
        key="hist_sel_zip",
        on_click="ignore",
        icon=":material/folder_zip:",
        help=t("favourites.zip_size", count=count, size=fmt_bytes(size)),
    )


def _delete_popover(user: User, ids: list[str], on_done: Callable[[str], None]) -> None:
    with st.popover(t("favourites.delete_selection"), icon=":material/delete:"):
        st.text(t("favourites.delete_confirm", count=len(ids)))
        if st.button(t("favourites.delete_yes"), key="hist_sel_delete", type="primary"):
            result = widgets.services().jobs.delete_selected(user, ids)
            clear()
            on_done(t("favourites.deleted", count=result.deleted))
            st.session_state[KEPT_KEY] = [reason for _id, reason in result.kept]
            st.rerun(scope="app")
