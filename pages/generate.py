"""Generate: provider, model, the prompt and Generate at the top (the options the model supports
in a compact, remembered section); beside it (below on a phone) the feed of one's recent jobs,
newest batch first, live while any is unfinished."""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from typing import Any

import streamlit as st
import streamlit.components.v1 as components

from core.domain.errors import AuthRequired, StudioError
from core.domain.models import Job, JobQuery, JobRequest, JobStatus, User
from core.providers.base import SEED_MAX, ModelInfo, Provider, utc_today
from pages import gallery, names, widgets
from pages.i18n import fmt_list, option_names, t
from pages.recall import recall_uploader

# A second submit of the same form content within this window is the same click (double-click,
# or a click that raced the rerun): it reuses the idempotency key, so it returns the same batch.
DOUBLE_SUBMIT_WINDOW_S = 5.0
DEFAULT_CHOICE = "Model default"
BATCH_KEY = "generate_batch"
SCROLL_KEY = "generate_scroll_to"
NOTICE_KEY = "generate_notice"
FEED_SIZE = 12
# Waits for the batch's container (Streamlit draws after the script), then scrolls it to the top
# only when it is not on screen already.
SCROLL_SCRIPT = (
    "(function(){const doc=window.parent.document;let n=0;"
    "function go(){const el=doc.querySelector('.'+CSS_CLASS);"
    "if(!el){if(n++<40){setTimeout(go,100);}return;}"
    "const r=el.getBoundingClientRect();"
    "if(r.top>window.parent.innerHeight*0.5||r.bottom<0){el.scrollIntoView({block:'start'});}}"
    "go();})();"
)
FEED_COLUMNS = 2
LAST_SUBMIT_KEY = "generate_last_submit"
JUST_SUBMITTED_KEY = "generate_just_submitted"
PREFILL_KEY = "prefill"

log = logging.getLogger(__name__)

user = widgets.require_user()
svc = widgets.services()

st.title(t("nav.generate"))


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
            notice = names.switch_notice(provider, asked.model, request.model)
            params = request.params
        if any(m.id == request.model for m in provider.active_models()):
            st.session_state[f"gen_model_{provider.name}"] = request.model
    st.session_state["gen_prefill_params"] = params
    return notice


def _model_label(provider: Provider, model_id: str) -> str:
    """The picker's text: the name, and "shuts down on DATE" while a shutdown is ahead."""
    return names.picker_label(provider, model_id, utc_today())


def _demo_notice(providers: dict[str, Provider]) -> str:
    """What the demo is, naming the providers whose key would give a real model."""
    real = [names.provider_label(p) for p in providers.values() if p.key_setting]
    if not real:
        return t("generate.demo_notice")
    return t("generate.demo_notice_keys", providers=fmt_list(real, style="or"))


def _option_select(
    label: str, name: str, values: tuple[str, ...], model: ModelInfo, preset: dict[str, Any]
) -> str | None:
    options = [DEFAULT_CHOICE, *values]
    key = f"gen_{name}_{model.id}"
    wanted = preset.get(name)
    if wanted in options:
        st.session_state[key] = wanted
    # Remembered for the session (persist_state), so the options survive a visit elsewhere.
    choice = st.selectbox(
        label,
        options,
        key=key,
        persist_state="session",
        format_func=option_names({DEFAULT_CHOICE: t("generate.model_default")}, key=key),
    )
    return None if choice == DEFAULT_CHOICE else choice


def _options_form(model: ModelInfo, preset: dict[str, Any]) -> dict[str, Any]:
    """Widgets for exactly the options the model lists."""
    caps = model.capabilities
    params: dict[str, Any] = {}
    columns = st.columns(2)
    selects = [
        (t("generate.aspect_ratio"), "aspect_ratio", caps.aspect_ratios),
        (t("generate.quality"), "quality", caps.qualities),
        (t("generate.image_size"), "image_size", caps.image_sizes),
        (t("generate.style"), "style", caps.styles),
        (t("generate.background"), "background", caps.backgrounds),
        (t("generate.output_format"), "output_format", caps.output_formats),
    ]
    shown = [s for s in selects if s[2]]
    for i, (label, name, values) in enumerate(shown):
        with columns[i % 2]:
            params[name] = _option_select(label, name, values, model, preset)
    if caps.seed:
        seed_key = f"gen_seed_{model.id}"
        if "seed" in preset:
            st.session_state[seed_key] = str(preset["seed"])
        seed_text = st.text_input(
            t("generate.seed", max=SEED_MAX),
            key=seed_key,
            persist_state="session",
            help=t("generate.seed_help"),
        )
        params["seed"] = (seed_text or "").strip()
    if caps.negative_prompt:
        negative_key = f"gen_negative_{model.id}"
        if "negative_prompt" in preset:
            st.session_state[negative_key] = str(preset["negative_prompt"])
        params["negative_prompt"] = st.text_area(
            t("generate.negative_prompt"), key=negative_key, height=68, persist_state="session"
        )
    return {k: v for k, v in params.items() if v not in (None, "")}


def _idempotency_key(user: User, request: JobRequest, count: int) -> tuple[str, bool]:
    """One key per distinct submission; the same content again within the window reuses it.
    Returns (key, reused): reused means this click repeats the last one."""
    fingerprint = hashlib.sha256(
        json.dumps(
            [user.id, request.provider, request.model, request.prompt, request.params, count],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()
    now = time.monotonic()
    last = st.session_state.get(LAST_SUBMIT_KEY)
    reused = bool(
        last and last["fingerprint"] == fingerprint and now - last["at"] < DOUBLE_SUBMIT_WINDOW_S
    )
    key = last["key"] if reused and last else str(uuid.uuid4())
    st.session_state[LAST_SUBMIT_KEY] = {"fingerprint": fingerprint, "key": key, "at": now}
    return key, reused


def _parse_seed(params: dict[str, Any]) -> None:
    if "seed" in params:
        raw = params["seed"]
        if not raw.isdigit():
            raise ValueError(t("generate.seed_invalid", max=SEED_MAX))
        params["seed"] = int(raw)


def _render_feed(user: User, jobs: list[Job]) -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/info:")
    if not jobs:
        st.caption(t("generate.feed_empty"))
        return
    queued = [j.id for j in jobs if j.status is JobStatus.QUEUED]
    positions = svc.jobs.queue_positions(user, queued) if queued else {}
    urls = widgets.image_sources(user, jobs, thumbs=True)
    for batch in gallery.batches(jobs):
        batch_id = batch[0].batch_id or batch[0].id
        with st.container(border=False, key=f"gen_batch_{batch_id}"):
            st.caption(widgets.md_escape(gallery.batch_heading(batch)))
            st.text(widgets.short(batch[0].prompt, 160))
            columns = st.columns(FEED_COLUMNS)
            for i, job in enumerate(batch):
                with columns[i % FEED_COLUMNS]:
                    gallery.tile(
                        user, job, urls.get(job.id), positions.get(job.id), key=f"gen_{job.id}"
                    )


def _scroll_into_view(css_class: str) -> None:
    """On a phone the feed is under the form: bring the new batch into view (once). A batch
    already on screen (the desktop's side column) is left where it is."""
    script = SCROLL_SCRIPT.replace("CSS_CLASS", json.dumps(css_class))
    # A zero-height component frame (same origin): st.html's scripts did not run here.
    components.html(f"<script>{script}</script>", height=0)


def _recent(user: User) -> list[Job]:
    return svc.jobs.list_jobs(user, JobQuery(limit=FEED_SIZE)).items


def _show_feed(user: User) -> None:
    """The results feed, live while something in it is unfinished: one list per draw. The run
    right after a submit waits briefly for the new jobs (widgets.settled), so a fast image is
    drawn by that run; later draws wake on the change signal (widgets.live_fragment)."""
    st.subheader(t("generate.feed_title"))
    try:
        if st.session_state.pop(JUST_SUBMITTED_KEY, False):
            first = widgets.settled(user, lambda: _recent(user), timeout=widgets.SUBMIT_SETTLE_S)
        else:
            first = _recent(user)
    except AuthRequired:
        first = []  # the fragment reads again and signs the tab out
    except StudioError as exc:
        widgets.show_error(exc)
        return

    def body(user: User) -> bool:
        jobs = _recent(user) if widgets.in_fragment_run() else first
        _render_feed(user, jobs)
        return any(not j.status.finished for j in jobs)

    widgets.live_fragment(body, live=any(not j.status.finished for j in first))


providers = svc.jobs.providers
switched = _apply_prefill(providers)
if switched:
    st.info(widgets.md_escape(switched), icon=":material/swap_horiz:")
available = [p for p in providers.values() if p.available()]
unavailable = [p for p in providers.values() if not p.available()]

if not available:
    st.error(t("generate.no_provider"))
    st.stop()

# "Recall" (pages/recall.py) fills the form's widgets from an image's recipe, so it comes
# before any of them is drawn in this run (Streamlit refuses to set a drawn widget's value).
recall_uploader()
form_col, result_col = st.columns([5, 6], gap="large")
with form_col:
    provider_names = [p.name for p in available]
    if st.session_state.get("gen_provider") not in provider_names:
        st.session_state["gen_provider"] = provider_names[0]
    # Provider, model and prompt are remembered for the session (persist_state) like the
    # options, so they are there again after a visit to another page. (Re-setting them through
    # st.session_state on every run did not survive a live feed's fragment run just before the
    # page change, and it pushed the last submitted prompt over what was being typed.)
    with st.container(horizontal=True, key="gen_pickers"):
        provider_name = st.selectbox(
            t("generate.provider"),
            provider_names,
            format_func=option_names(
                {name: names.provider_label(providers[name]) for name in provider_names},
                key="gen_provider",
            ),
            key="gen_provider",
            persist_state="session",
            width=200,
        )
        provider = providers[provider_name]
        model_ids = [m.id for m in provider.active_models()]
        model_key = f"gen_model_{provider.name}"
        if st.session_state.get(model_key) not in model_ids:
            st.session_state[model_key] = provider.default_model.id
        # Wider than the provider: labels carry "· shuts down on DATE".
        model_id = st.selectbox(
            t("generate.model"),
            model_ids,
            format_func=option_names(
                {mid: _model_label(provider, mid) for mid in model_ids}, key=model_key
            ),
            key=model_key,
            persist_state="session",
        )
    model = provider.model(model_id)

    preset = st.session_state.pop("gen_prefill_params", None) or {}
    with st.form("generate", border=False, enter_to_submit=False):
        prompt = st.text_area(
            t("generate.prompt", max=model.capabilities.max_prompt_chars),
            key="gen_prompt",
            persist_state="session",
            height=110,
            placeholder=t("generate.prompt_placeholder"),
        )
        with st.container(horizontal=True, vertical_alignment="bottom"):
            submitted = st.form_submit_button(
                t("generate.submit"), type="primary", icon=":material/brush:", width=160
            )
            count = st.number_input(
                t("generate.count"),
                min_value=1,
                max_value=4,
                step=1,
                key="gen_count",
                persist_state="session",
                width=150,
            )
        # Collapsed to keep Generate on the first screen; the chosen values are kept for the
        # session (persist_state), and a "use this prompt" prefill opens it to show them.
        with st.expander(t("generate.options"), expanded=bool(preset), icon=":material/tune:"):
            params = _options_form(model, preset)

    if submitted:
        try:
            _parse_seed(params)
            request = JobRequest(
                provider=provider.name, model=model.id, prompt=prompt or "", params=params
            )
            key, repeated = _idempotency_key(user, request, int(count or 1))
            jobs = svc.jobs.submit(user, request, count=int(count or 1), idempotency_key=key)
        except ValueError as exc:
            st.error(str(exc), icon=":material/error:")
        except StudioError as exc:
            widgets.show_error(exc)
        except Exception:
            # A fault on our side (a store that refused the write...): logged, shown plainly.
            log.exception("submit failed on the Generate page")
            st.error(t("generate.submit_failed"), icon=":material/error:")
        else:
            batch_id = jobs[0].batch_id or jobs[0].id
            st.session_state[BATCH_KEY] = {"job_ids": [j.id for j in jobs]}
            st.session_state[SCROLL_KEY] = batch_id
            st.session_state[JUST_SUBMITTED_KEY] = True
            if repeated:
                st.session_state[NOTICE_KEY] = t("generate.already_submitted")

    # Below the form: what the chosen model is, and what else could be chosen.
    if provider.name == "demo":
        st.caption(_demo_notice(providers))
    notes = names.model_notes(provider, model.id)
    if notes:
        st.caption(widgets.md_escape(notes))
    shutdown = names.shutdown_warning(provider, model.id, utc_today())
    if shutdown:
        st.warning(widgets.md_escape(shutdown), icon=":material/event_busy:")
    if unavailable:
        with st.expander(t("generate.not_configured", count=len(unavailable))):
            for p in unavailable:
                st.text(widgets.error_text(p.unavailable_error()))

with result_col:
    _show_feed(user)
    scroll_to = st.session_state.pop(SCROLL_KEY, None)
    if scroll_to:
        # Outside the live fragment, so its timed reruns do not take the script away.
        _scroll_into_view(f"st-key-gen_batch_{scroll_to}")
