"""Edit: change part of an image (or all of it, by instruction) with any provider whose model can
edit. The image is one of your finished jobs (opened with "Edit" elsewhere) or an upload; paint
the area to change on the canvas (or upload a mask), describe the change, choose provider, model
and how many results. The results appear below, live, with their own Edit / Variations."""

from __future__ import annotations

import io
import logging
from typing import Any

import streamlit as st
from PIL import Image, ImageChops

from core.domain.errors import AuthRequired, NotFound, StudioError
from core.domain.models import Job, JobKind, JobRequest, JobStatus, User
from core.domain.uploads import MAX_UPLOAD_BYTES
from core.providers.base import Provider, utc_today
from core.services.inputs import Inputs
from pages import iterate, widgets
from pages.failures import failure_text
from pages.i18n import option_names, t
from pages.names import model_label, picker_label, provider_label, shutdown_warning

log = logging.getLogger(__name__)

CANVAS_MAX_SIDE = 640  # display size; the mask is scaled back to the image's own size
PAINT = "rgba(255, 0, 96, 0.45)"  # translucent: the image stays visible under the paint
ERASER = "rgba(40, 120, 255, 0.9)"  # eraser strokes: shown blue, they take paint away
UPLOAD_KEY = "edit_upload"
RESULTS_REFRESH_S = 0.5
CANVAS_GEN_KEY = "edit_canvas_gen"

user = widgets.require_user()
svc = widgets.services()

st.title(t("edit.title"))


# ---- the source image --------------------------------------------------------------------------


def _source_job(user: User) -> Job | None:
    """The finished job the editor is on: from "Edit" elsewhere, or the URL (?job=...)."""
    job_id = st.query_params.get("job") or st.session_state.get(iterate.SOURCE_KEY)
    if not job_id:
        return None
    try:
        job = svc.jobs.get_job(user, str(job_id))
    except NotFound:
        job = None
    if job is None or job.status is not JobStatus.DONE or job.user_id != user.id:
        st.session_state.pop(iterate.SOURCE_KEY, None)
        st.query_params.pop("job", None)
        st.warning(t("edit.not_your_image"))
        return None
    st.session_state[iterate.SOURCE_KEY] = job.id
    return job


def _source_image(user: User, job: Job | None) -> tuple[bytes | None, str]:
    """(image bytes, a caption), from the job or the uploader."""
    if job is not None:
        data, _mime, _name = svc.jobs.image_bytes(user, job.id)
        return data, t("edit.editing", name=widgets.short(job.prompt, 60))
    upload = st.file_uploader(
        t("edit.upload", size=MAX_UPLOAD_BYTES // (1024 * 1024)),
        type=["png", "jpg", "jpeg", "webp"],
        key=UPLOAD_KEY,
        max_upload_size=MAX_UPLOAD_BYTES // (1024 * 1024),
    )
    if upload is None:
        return None, ""
    return upload.getvalue(), t("edit.editing", name=upload.name)


def _display_copy(data: bytes) -> Image.Image | None:
    """A small RGB copy for the canvas (the original goes to the provider)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > 40_000_000:
                return None
            img.draft("RGB", (CANVAS_MAX_SIDE, CANVAS_MAX_SIDE))
            copy = img.convert("RGB")
    except Exception:
        return None
    copy.thumbnail((CANVAS_MAX_SIDE, CANVAS_MAX_SIDE))
    return copy


# ---- the mask ---------------------------------------------------------------------------------


def _canvas_mask(display: Image.Image, size: tuple[int, int]) -> bytes | None:
    """Paint on the image; the painted area (minus eraser strokes) as the internal mask
    (greyscale PNG the image's size, white = change), or None when nothing is painted or the
    canvas cannot load."""
    try:
        from streamlit_drawable_canvas import st_canvas  # a bidi component: needs the runtime
    except Exception:
        log.warning("the drawing canvas could not be loaded", exc_info=True)
        st.info(t("edit.canvas_unavailable"))
        return None
    tools = st.columns([3, 2, 2])
    brush = tools[0].slider(t("edit.brush_size"), 5, 120, 40, key="edit_brush")
    mode = tools[1].radio(
        t("edit.tool"),
        ["brush", "eraser"],
        format_func=option_names(
            {"brush": t("edit.tool_brush"), "eraser": t("edit.tool_eraser")}, key="edit_tool"
        ),
        horizontal=True,
        key="edit_tool",
    )
    generation = st.session_state.get(CANVAS_GEN_KEY, 0)
    if tools[2].button(t("edit.clear_mask"), icon=":material/layers_clear:"):
        st.session_state[CANVAS_GEN_KEY] = generation = generation + 1
    st.caption(t("edit.paint_hint"))
    result = st_canvas(
        background_image=display,
        drawing_mode="freedraw",
        stroke_width=int(brush),
        stroke_color=ERASER if mode == "eraser" else PAINT,
        height=display.height,
        width=display.width,
        return_image_data=True,
        key=f"edit_canvas_{generation}",
    )
    if result.image_data is None:
        return None
    return _mask_from_strokes(result.image_data, size)


def _mask_from_strokes(rgba: Any, size: tuple[int, int]) -> bytes | None:
    """Strokes (RGBA, canvas pixels) → the internal mask at the image's size. Any painted
    pixel counts (soft edges included, on purpose: better a little more than a gap); a pixel
    whose top stroke is the eraser's (more blue than red) does not."""
    strokes = Image.fromarray(rgba.astype("uint8"), "RGBA")
    red, _green, blue, alpha = strokes.split()
    painted = alpha.point(lambda v: 255 if v > 0 else 0)
    erased = ImageChops.subtract(blue, red).point(lambda v: 255 if v > 0 else 0)
    mask = ImageChops.subtract(painted, erased)
    if mask.getbbox() is None:
        return None
    mask = mask.resize(size, Image.Resampling.NEAREST)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


def _uploaded_mask() -> bytes | None:
    with st.expander(t("edit.mask_upload")):
        st.caption(t("edit.mask_hint"))
        upload = st.file_uploader(
            t("edit.mask"), type=["png"], key="edit_mask_upload", max_upload_size=20
        )
    return upload.getvalue() if upload is not None else None


# ---- provider and model --------------------------------------------------------------------------


def _edit_models(provider: Provider) -> list[str]:
    return [m.id for m in provider.active_models() if m.capabilities.edit]


def _results(user: User, job_ids: list[str], label: str) -> None:
    """The last batch, refreshed (RESULTS_REFRESH_S) only while a job is unfinished."""
    st.subheader(label)
    unfinished = False
    for job_id in job_ids:
        try:
            unfinished = unfinished or not svc.jobs.get_job(user, job_id).status.finished
        except NotFound:
            continue
    run_every = RESULTS_REFRESH_S if unfinished else None
    st.fragment(run_every=run_every)(_live_results)(job_ids, unfinished)


def _live_results(job_ids: list[str], refreshing: bool) -> None:
    finished = False
    with widgets.live_user() as live:
        jobs: list[Job] = []
        for job_id in job_ids:
            try:
                jobs.append(svc.jobs.get_job(live, job_id))
            except NotFound:
                continue
        if not jobs:
            return
        urls = widgets.image_sources(live, jobs, thumbs=False)
        columns = st.columns(2)  # one result takes half the width, not all of it
        for i, job in enumerate(jobs):
            with columns[i % len(columns)], st.container(border=True):
                widgets.status_badge(job)
                if job.status is JobStatus.DONE:
                    widgets.show_job_image(live, job, urls.get(job.id), thumb=False)
                    with st.container(horizontal=True):
                        widgets.download_button(live, job, key=f"edit_dl_{job.id}")
                        iterate.job_actions(live, job, key=f"edit_res_{job.id}")
                elif job.status is JobStatus.FAILED:
                    st.text(failure_text(job) or t("edit.failed"))
        finished = all(j.status.finished for j in jobs)
    if refreshing and finished:
        st.rerun(scope="app")  # once more without the timer


# ---- the page --------------------------------------------------------------------------------

providers = {name: p for name, p in svc.jobs.providers.items() if p.available() and _edit_models(p)}


def _edit_mode(user: User, providers: dict[str, Provider]) -> None:
    """Edit one image: the canvas (or an uploaded mask), the change, provider and model."""
    if not providers:
        st.error(t("edit.no_provider"))
        return
    source_job = _source_job(user)
    image_col, form_col = st.columns([3, 2], gap="large")
    with image_col:
        if source_job is not None and st.button(t("edit.other_image"), icon=":material/upload:"):
            iterate.open_editor(None)
        source, caption = _source_image(user, source_job)
        mask: bytes | None = None
        if source is not None:
            display = _display_copy(source)
            if display is None:
                st.error(t("edit.not_an_image"))
                source = None
            else:
                st.caption(widgets.md_escape(caption))
                with Image.open(io.BytesIO(source)) as original:
                    size = original.size
                mask = _canvas_mask(display, size)
                uploaded_mask = _uploaded_mask()
                if uploaded_mask is not None:
                    mask = uploaded_mask

    with form_col:
        names = list(providers)
        if st.session_state.get("edit_provider") not in names:
            st.session_state["edit_provider"] = "demo" if "demo" in names else names[0]
        provider = providers[
            st.selectbox(
                t("edit.provider"),
                names,
                format_func=option_names(
                    {n: provider_label(p) for n, p in providers.items()}, key="edit_provider"
                ),
                key="edit_provider",
            )
        ]
        model_ids = _edit_models(provider)
        model_id = st.selectbox(
            t("edit.model"),
            model_ids,
            format_func=option_names(
                {m: picker_label(provider, m, utc_today()) for m in model_ids},
                key=f"edit_model_{provider.name}",
            ),
            key=f"edit_model_{provider.name}",
        )
        warning = shutdown_warning(provider, model_id, utc_today())
        if warning:
            st.warning(widgets.md_escape(warning), icon=":material/event_busy:")
        if provider.name == "gemini":
            st.info(t("edit.gemini_hint"), icon=":material/info:")
        with st.form("edit", border=True):
            prompt = st.text_area(
                t("edit.change"),
                key="edit_prompt",
                height=100,
                placeholder=t("edit.change_placeholder"),
            )
            count = st.number_input(t("edit.count"), 1, 4, 1, key="edit_count")
            st.caption(t("edit.masked") if mask is not None else t("edit.unmasked"))
            submitted = st.form_submit_button(
                t("edit.submit"),
                type="primary",
                icon=":material/auto_fix_high:",
                disabled=source is None,
            )
        if submitted and source is not None:
            request = JobRequest(
                provider=provider.name,
                model=model_id,
                prompt=prompt,
                kind=JobKind.EDIT,
                parent_id=source_job.id if source_job is not None else None,
            )
            images = Inputs(image=None if source_job is not None else source, mask=mask)
            _submit(user, request, images, int(count), "edit")


def _reference_mode(user: User) -> None:
    """Generate guided by reference images, up to the chosen model's catalogue limit."""
    takers = {
        name: p for name, p in svc.jobs.providers.items() if p.available() and _reference_models(p)
    }
    if not takers:
        st.error(t("edit.no_reference_provider"))
        return
    refs_col, form_col = st.columns([3, 2], gap="large")
    with form_col:
        names = list(takers)
        if st.session_state.get("ref_provider") not in names:
            st.session_state["ref_provider"] = "demo" if "demo" in names else names[0]
        provider = takers[
            st.selectbox(
                t("edit.provider"),
                names,
                format_func=option_names(
                    {n: provider_label(p) for n, p in takers.items()}, key="ref_provider"
                ),
                key="ref_provider",
            )
        ]
        model_id = st.selectbox(
            t("edit.model"),
            _reference_models(provider),
            format_func=option_names(
                {m: picker_label(provider, m, utc_today()) for m in _reference_models(provider)},
                key=f"ref_model_{provider.name}",
            ),
            key=f"ref_model_{provider.name}",
        )
        limit = provider.model(model_id).capabilities.max_input_images
    with refs_col:
        files = (
            st.file_uploader(
                t("edit.references", count=limit),
                type=["png", "jpg", "jpeg", "webp"],
                accept_multiple_files=True,
                key="ref_files",
                max_upload_size=MAX_UPLOAD_BYTES // (1024 * 1024),
            )
            or []
        )
        if files:
            st.image([f.getvalue() for f in files[:limit]], width=120)
        if len(files) > limit:
            st.warning(
                t("edit.too_many_references", model=model_label(provider, model_id), count=limit)
            )
    with form_col, st.form("references", border=True):
        prompt = st.text_area(
            t("edit.prompt"),
            key="ref_prompt",
            height=100,
            placeholder=t("edit.prompt_placeholder"),
        )
        count = st.number_input(t("edit.image_count"), 1, 4, 1, key="ref_count")
        submitted = st.form_submit_button(
            t("edit.generate"), type="primary", icon=":material/brush:", disabled=not files
        )
    if submitted:
        request = JobRequest(
            provider=provider.name, model=model_id, prompt=prompt, kind=JobKind.REFERENCE
        )
        images = Inputs(references=[f.getvalue() for f in files])
        _submit(user, request, images, int(count), "references")


def _reference_models(provider: Provider) -> list[str]:
    return [m.id for m in provider.active_models() if m.capabilities.max_input_images > 0]


def _submit(user: User, request: JobRequest, images: Inputs, count: int, label: str) -> None:
    try:
        jobs = svc.jobs.submit_iteration(user, request, images=images, count=count)
    except AuthRequired:
        raise
    except StudioError as exc:
        widgets.show_error(exc)
    except Exception:
        log.exception("submit failed on the Edit page")
        st.error(t("edit.submit_failed"), icon=":material/error:")
    else:
        st.session_state[iterate.RESULTS_KEY] = {"job_ids": [j.id for j in jobs], "made_by": label}


MODES = {"edit": t("edit.mode_edit"), "references": t("edit.mode_references")}
mode = (
    st.segmented_control(
        t("edit.mode"),
        list(MODES),
        default="edit",
        format_func=option_names(MODES, key=iterate.MODE_KEY),
        key=iterate.MODE_KEY,
    )
    or "edit"
)
if mode == "edit":
    _edit_mode(user, providers)
else:
    _reference_mode(user)

results = st.session_state.get(iterate.RESULTS_KEY)
if results:
    _results(user, list(results["job_ids"]), iterate.results_heading(results))
