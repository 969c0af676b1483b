"""Compare providers: one prompt sent to several provider/model pairs as one batch, the results
side by side with their label, time and estimated cost; keep the winner and delete the rest in
one click."""

from __future__ import annotations

import uuid

import streamlit as st

from core.domain.errors import AuthRequired, NotFound, StudioError
from core.domain.models import Job, JobStatus, User
from core.providers.base import utc_today
from core.services.jobs import MAX_COMPARE
from pages import iterate, widgets
from pages.failures import failure_text
from pages.i18n import option_names, t
from pages.names import model_label, picker_label, provider_label

BATCH_KEY = "compare_batch"
FLASH_KEY = "compare_flash"
REFRESH_S = 0.5

user = widgets.require_user()
svc = widgets.services()

st.title(t("compare.title"))
st.caption(t("compare.caption"))


def _pairs() -> dict[tuple[str, str], str]:
    """(provider, model) → 'Provider · Model' for every configured provider's active models."""
    out: dict[tuple[str, str], str] = {}
    today = utc_today()
    for provider in svc.jobs.providers.values():
        if not provider.available():
            continue
        for model in provider.active_models():
            out[(provider.name, model.id)] = (
                f"{provider_label(provider)} · {picker_label(provider, model.id, today)}"
            )
    return out


def _cost(job: Job) -> str:
    """The recorded or estimated cost of one image, else the catalogue price."""
    meta = job.result_meta
    value = meta.get("cost_usd")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"${value:.3f}"
    value = meta.get("estimated_cost_usd")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return t("compare.cost_estimated", cost=f"${value:.3f}")
    try:
        price = svc.jobs.provider(job.provider).model(job.model).price_per_image_usd
    except StudioError:
        price = None
    if price is None:
        return t("compare.cost_unknown")
    return t("compare.free") if price == 0 else t("compare.list_price", cost=f"${price:.3f}")


def _pair_name(job: Job) -> str:
    try:
        provider = svc.jobs.provider(job.provider)
        return f"{provider_label(provider)} · {model_label(provider, job.model)}"
    except StudioError:
        return f"{job.provider} · {job.model}"


def _show(user: User, job_ids: list[str], refreshing: bool) -> None:
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
        finished = all(j.status.finished for j in jobs)
        columns = st.columns(len(jobs))
        for column, job in zip(columns, jobs, strict=True):
            with column, st.container(border=True):
                st.markdown(f"**{widgets.md_escape(_pair_name(job))}**")
                widgets.status_badge(job)
                if job.status is JobStatus.DONE:
                    widgets.show_job_image(live, job, urls.get(job.id), thumb=False)
                    st.caption(
                        t(
                            "compare.time_and_cost",
                            time=widgets.fmt_seconds(job.started_at, job.finished_at),
                            cost=_cost(job),
                        )
                    )
                    if len(jobs) > 1 and st.button(
                        t("compare.keep"),
                        key=f"cmp_keep_{job.id}",
                        type="primary",
                        icon=":material/trophy:",
                        disabled=not finished,
                        help=t("compare.keep_help"),
                    ):
                        _keep(live, job)
                    iterate.job_actions(live, job, key=f"cmp_{job.id}")
                elif job.status is JobStatus.FAILED:
                    st.text(failure_text(job) or t("compare.failed"))
    if refreshing and finished:
        st.rerun(scope="app")


def _keep(user: User, job: Job) -> None:
    try:
        deleted = svc.jobs.keep_winner(user, job.id)
    except AuthRequired:
        raise
    except StudioError as exc:
        widgets.show_error(exc)
        return
    st.session_state[BATCH_KEY] = [job.id]
    st.session_state[FLASH_KEY] = t("compare.kept", label=_pair_name(job), count=len(deleted))
    st.rerun(scope="app")


pairs = _pairs()
if len(pairs) < 2:
    st.error(t("compare.too_few_models"))
    st.stop()

with st.form("compare", border=True):
    prompt = st.text_area(
        t("compare.prompt"),
        key="cmp_prompt",
        height=100,
        placeholder=t("compare.prompt_placeholder"),
    )
    chosen = st.multiselect(
        t("compare.pairs", max=MAX_COMPARE),
        list(pairs),
        default=list(pairs)[: min(3, len(pairs))],
        format_func=option_names(pairs, key="cmp_pairs"),
        max_selections=MAX_COMPARE,
        key="cmp_pairs",
    )
    submitted = st.form_submit_button(
        t("compare.submit"), type="primary", icon=":material/view_column:"
    )

if submitted:
    try:
        jobs = svc.jobs.submit_comparison(
            user, prompt, list(chosen), idempotency_key=str(uuid.uuid4())
        )
    except AuthRequired:
        raise
    except StudioError as exc:
        widgets.show_error(exc)
    else:
        st.session_state[BATCH_KEY] = [j.id for j in jobs]

flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(widgets.md_escape(flash), icon=":material/trophy:")
batch = st.session_state.get(BATCH_KEY)
if batch:
    unfinished = False
    for job_id in batch:
        try:
            unfinished = unfinished or not svc.jobs.get_job(user, job_id).status.finished
        except NotFound:
            continue
    run_every = REFRESH_S if unfinished else None
    st.fragment(run_every=run_every)(_show)(user, list(batch), unfinished)
