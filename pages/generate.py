"""Generate: prompt, provider, model and the options the model supports; then the batch's jobs,
live until every one is finished."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from typing import Any

import streamlit as st

from core.domain.errors import NotFound, StudioError
from core.domain.models import Job, JobRequest, JobStatus, User
from core.providers.base import SEED_MAX, ModelInfo, Provider, utc_today
from pages import iterate, widgets
from pages.recall import recall_uploader

# A second submit of the same form content within this window is the same click (double-click,
# or a click that raced the rerun): it reuses the idempotency key, so it returns the same batch.
DOUBLE_SUBMIT_WINDOW_S = 5.0
DEFAULT_CHOICE = "Model default"
BATCH_KEY = "generate_batch"
LAST_SUBMIT_KEY = "generate_last_submit"
JUST_SUBMITTED_KEY = "generate_just_submitted"
PREFILL_KEY = "prefill"
SUBMIT_FAILED = "Your images could not be queued because of a problem on our side. Try again later."

log = logging.getLogger(__name__)

user = widgets.require_user()
svc = widgets.services()

st.title("Generate")


def _apply_prefill(providers: dict[str, Provider]) -> str | None:
    """'Use this prompt' from History: seed the widgets before they are drawn. A model that
    has shut down since is swapped for its replacement; the notice saying so is returned."""
    prefill = st.session_state.pop(PREFILL_KEY, None)
    if not prefill:
        return None
    st.session_state["gen_prompt"] = prefill.get("prompt", "")
    params = dict(prefill.get("params") or {})
    notice = None
    provider = providers.get(prefill.get("provider", ""))
    if provider is not None and provider.available():
        st.session_state["gen_provider"] = provider.name
        model_id = str(prefill.get("model") or "")
        asked = JobRequest(provider=provider.name, model=model_id, prompt="", params=params)
        request = svc.jobs.current_request(asked)
        if request.model != asked.model:
            notice = provider.model(asked.model).switch_notice(request.model)
            params = request.params
        if any(m.id == request.model for m in provider.active_models()):
            st.session_state[f"gen_model_{provider.name}"] = request.model
    st.session_state["gen_prefill_params"] = params
    return notice


def _model_label(provider: Provider, model_id: str) -> str:
    """The picker's text: the label, and "shuts down on DATE" while a shutdown is ahead."""
    model = provider.model(model_id)
    marker = model.upcoming_shutdown(utc_today())
    return f"{model.label} · {marker}" if marker else model.label


def _demo_notice(providers: dict[str, Provider]) -> str:
    """What the demo is, naming the providers whose key would give a real model."""
    notice = (
        "Demo: draws a picture locally from your prompt, offline. It is not AI and costs nothing"
    )
    real = [p.label for p in providers.values() if p.key_setting]
    if not real:
        return f"{notice}."
    names = real[0] if len(real) == 1 else f"{', '.join(real[:-1])} or {real[-1]}"
    return f"{notice}; set a key for {names} to use a real model."


def _option_select(
    label: str, name: str, values: tuple[str, ...], model: ModelInfo, preset: dict[str, Any]
) -> str | None:
    options = [DEFAULT_CHOICE, *values]
    wanted = preset.get(name)
    index = options.index(wanted) if wanted in options else 0
    choice = st.selectbox(label, options, index=index, key=f"gen_{name}_{model.id}")
    return None if choice == DEFAULT_CHOICE else choice


def _options_form(model: ModelInfo, preset: dict[str, Any]) -> dict[str, Any]:
    """Widgets for exactly the options the model lists."""
    caps = model.capabilities
    params: dict[str, Any] = {}
    columns = st.columns(2)
    selects = [
        ("Aspect ratio", "aspect_ratio", caps.aspect_ratios),
        ("Quality", "quality", caps.qualities),
        ("Image size", "image_size", caps.image_sizes),
        ("Style", "style", caps.styles),
        ("Background", "background", caps.backgrounds),
        ("Output format", "output_format", caps.output_formats),
    ]
    shown = [s for s in selects if s[2]]
    for i, (label, name, values) in enumerate(shown):
        with columns[i % 2]:
            params[name] = _option_select(label, name, values, model, preset)
    if caps.seed:
        seed_text = st.text_input(
            f"Seed (optional, 0–{SEED_MAX})",
            value=str(preset.get("seed", "")),
            key=f"gen_seed_{model.id}",
            help="The same seed and prompt give the same picture where the model supports it.",
        )
        params["seed"] = seed_text.strip()
    if caps.negative_prompt:
        params["negative_prompt"] = st.text_area(
            "Negative prompt (optional)",
            value=str(preset.get("negative_prompt", "")),
            key=f"gen_negative_{model.id}",
            height=68,
        )
    return {k: v for k, v in params.items() if v not in (None, "")}


def _idempotency_key(user: User, request: JobRequest, count: int) -> str:
    """One key per distinct submission; the same content again within the window reuses it."""
    fingerprint = hashlib.sha256(
        json.dumps(
            [user.id, request.provider, request.model, request.prompt, request.params, count],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    now = time.monotonic()
    last = st.session_state.get(LAST_SUBMIT_KEY)
    if last and last["fingerprint"] == fingerprint and now - last["at"] < DOUBLE_SUBMIT_WINDOW_S:
        key = last["key"]
    else:
        key = str(uuid.uuid4())
    st.session_state[LAST_SUBMIT_KEY] = {"fingerprint": fingerprint, "key": key, "at": now}
    return key


def _parse_seed(params: dict[str, Any]) -> None:
    if "seed" in params:
        raw = params["seed"]
        if not raw.isdigit():
            raise ValueError(f"The seed must be a whole number from 0 to {SEED_MAX}.")
        params["seed"] = int(raw)


def _batch_jobs(user: User, batch: dict[str, Any]) -> list[Job]:
    """The batch's jobs: one read by batch id (a batch kept before it had one: by job id)."""
    if batch.get("batch_id"):
        return svc.jobs.batch_jobs(user, str(batch["batch_id"]))
    jobs: list[Job] = []
    for job_id in batch["job_ids"]:
        try:
            jobs.append(svc.jobs.get_job(user, job_id))
        except NotFound:
            continue
    return jobs


def _render_jobs(user: User, jobs: list[Job]) -> bool:
    """Draw the batch's jobs; True when every one is finished."""
    if not jobs:
        return True
    queued = [j.id for j in jobs if j.status is JobStatus.QUEUED]
    positions = svc.jobs.queue_positions(user, queued) if queued else {}
    urls = widgets.image_sources(user, jobs, thumbs=False)
    columns = st.columns(min(len(jobs), 2))
    for i, job in enumerate(jobs):
        with columns[i % len(columns)], st.container(border=True):
            widgets.status_badge(job, positions.get(job.id))
            if job.status is JobStatus.DONE:
                widgets.show_job_image(user, job, urls.get(job.id), thumb=False)
                widgets.download_button(user, job, key=f"gen_dl_{job.id}")
                iterate.job_actions(user, job, key=f"gen_{job.id}")
            elif job.status is JobStatus.FAILED:
                st.text(job.error_message or "The image could not be generated.")
            elif job.status is JobStatus.PROCESSING:
                st.caption(f"Attempt {job.attempts} of {job.max_attempts}")
            elif job.status is JobStatus.QUEUED and job.attempts and job.error_message:
                # Back in the queue after a temporary provider error; it will be tried again.
                st.text(f"Will retry (attempt {job.attempts} failed: {job.error_message})")
    return all(j.status.finished for j in jobs)


def _show_batch(user: User) -> None:
    batch = st.session_state.get(BATCH_KEY)
    st.subheader("This batch")
    if not batch:
        st.caption("Your images appear here as soon as they are ready.")
        return
    # read once: the full run's fragment draws these (right after a submit, once settled)
    if st.session_state.pop(JUST_SUBMITTED_KEY, False):
        first = widgets.settled(
            user, lambda: _batch_jobs(user, batch), timeout=widgets.SUBMIT_SETTLE_S
        )
    else:
        first = _batch_jobs(user, batch)

    def body(user: User) -> bool:
        jobs = _batch_jobs(user, batch) if widgets.in_fragment_run() else first
        return not _render_jobs(user, jobs)

    widgets.live_fragment(body, live=not all(j.status.finished for j in first))


providers = svc.jobs.providers
switched = _apply_prefill(providers)
if switched:
    st.info(widgets.md_escape(switched), icon=":material/swap_horiz:")
available = [p for p in providers.values() if p.available()]
unavailable = [p for p in providers.values() if not p.available()]

if not available:
    st.error("No image provider is available. Set an API key, or enable the demo provider.")
    st.stop()

form_col, result_col = st.columns([5, 6], gap="large")
with form_col:
    provider_names = [p.name for p in available]
    if st.session_state.get("gen_provider") not in provider_names:
        st.session_state["gen_provider"] = provider_names[0]
    provider_name = st.selectbox(
        "Provider",
        provider_names,
        format_func=lambda name: providers[name].label,
        key="gen_provider",
    )
    provider = providers[provider_name]
    model_ids = [m.id for m in provider.active_models()]
    model_key = f"gen_model_{provider.name}"
    if st.session_state.get(model_key) not in model_ids:
        st.session_state[model_key] = provider.default_model.id
    # Full width (not beside the provider): labels carry "· shuts down on DATE".
    model_id = st.selectbox(
        "Model",
        model_ids,
        format_func=lambda mid: _model_label(provider, mid),
        key=model_key,
    )
    model = provider.model(model_id)

    if provider.name == "demo":
        st.info(_demo_notice(providers), icon=":material/science:")
    if unavailable:
        with st.expander(f"{len(unavailable)} more provider(s) not configured"):
            for p in unavailable:
                st.text(f"{p.label}: {p.unavailable_reason() or 'unavailable'}")
    if model.notes:
        st.caption(widgets.md_escape(model.notes))
    shutdown = model.upcoming_shutdown(utc_today())
    if shutdown:
        st.warning(
            widgets.md_escape(f"{model.label} {shutdown}; move to {model.replacement}."),
            icon=":material/event_busy:",
        )

    recall_uploader()  # "Recall": fill the form from an image's recipe (pages/recall.py)
    preset = st.session_state.pop("gen_prefill_params", None) or {}
    with st.form("generate", border=True):
        prompt = st.text_area(
            f"Prompt (up to {model.capabilities.max_prompt_chars:,} characters)",
            key="gen_prompt",
            height=120,
            placeholder="A lighthouse on a cliff at dawn, watercolor",
        )
        params = _options_form(model, preset)
        count = st.number_input("Number of images", min_value=1, max_value=4, value=1, step=1)
        submitted = st.form_submit_button("Generate", type="primary", icon=":material/brush:")

    if submitted:
        try:
            _parse_seed(params)
            request = JobRequest(
                provider=provider.name, model=model.id, prompt=prompt, params=params
            )
            jobs = svc.jobs.submit(
                user,
                request,
                count=int(count),
                idempotency_key=_idempotency_key(user, request, int(count)),
            )
        except ValueError as exc:
            st.error(str(exc), icon=":material/error:")
        except StudioError as exc:
            widgets.show_error(exc)
        except Exception:
            # A fault on our side (a store that refused the write...): logged, shown plainly.
            log.exception("submit failed on the Generate page")
            st.error(SUBMIT_FAILED, icon=":material/error:")
        else:
            st.session_state[BATCH_KEY] = {
                "job_ids": [j.id for j in jobs],
                "batch_id": jobs[0].batch_id if jobs else None,
            }
            st.session_state[JUST_SUBMITTED_KEY] = True

with result_col:
    _show_batch(user)
