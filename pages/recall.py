"""Recall: drop an image made by the studio (or a PNG from A1111, ComfyUI or InvokeAI) on the
Generate page and its form is filled from the recipe inside (core.domain.recipe). Used from
Generate with one line: `recall_uploader()`. It fills the form through the same prefill as
History's "Use this prompt"."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.domain.recipe import MAX_INPUT, Recipe, read_recipe
from pages.i18n import t
from pages.widgets import md_escape

PREFILL_KEY = "prefill"  # what pages/generate.py reads before drawing its widgets
DONE_KEY = "recall_done"  # the upload already applied (the uploader keeps its file)
NOTICE_KEY = "recall_notice"  # {"source": …, "extra": …}: said in the language of each run
# The studio's options; anything else a foreign recipe carries (cfg scale, sampler) is shown,
# not applied.
OPTIONS = ("aspect_ratio", "quality", "image_size", "style", "background", "output_format")
SOURCES = {
    "studio": "recall.source_studio",
    "a1111": "recall.source_a1111",
    "comfyui": "recall.source_comfyui",
    "invokeai": "recall.source_invokeai",
}


def prefill_of(recipe: Recipe) -> dict[str, Any]:
    """The Generate form's prefill for a recipe: prompt, provider, model and options."""
    params: dict[str, Any] = {k: v for k, v in recipe.params.items() if k in OPTIONS}
    if recipe.seed is not None:
        params["seed"] = recipe.seed
    if recipe.negative_prompt:
        params["negative_prompt"] = recipe.negative_prompt
    prefill: dict[str, Any] = {"prompt": recipe.prompt, "params": params}
    if recipe.provider:
        prefill["provider"] = recipe.provider
    if recipe.model:
        prefill["model"] = recipe.model
    return prefill


def recall_uploader() -> None:
    """The Recall expander: a file drop that fills the form from an image's recipe."""
    with st.expander(t("recall.title"), icon=":material/image_search:"):
        upload = st.file_uploader(
            t("recall.drop"),
            type=["png", "jpg", "jpeg", "webp"],
            key="recall_file",
        )
    if upload is None:
        st.session_state.pop(NOTICE_KEY, None)
    problem = _recall(upload)
    notice = st.session_state.get(NOTICE_KEY)
    if problem:
        st.session_state[NOTICE_KEY] = None
        st.warning(problem, icon=":material/image_not_supported:")
    elif notice:  # while the recalled image stays in the drop zone
        st.success(_notice_text(notice), icon=":material/history:")


def _notice_text(notice: Any) -> str:
    """What a recall filled in (and what it could not), in this run's language."""
    if not isinstance(notice, dict):
        return str(notice)
    key = SOURCES.get(str(notice.get("source")))
    source = t(key) if key else t("recall.source_other")
    if notice.get("extra"):
        return t("recall.filled_partly", source=source, extra=md_escape(str(notice["extra"])))
    return t("recall.filled", source=source)


def _recall(upload: Any) -> str | None:
    """Apply a new upload (and rerun), or say why it cannot be."""
    if upload is None or st.session_state.get(DONE_KEY) == upload.file_id:
        return None
    st.session_state[DONE_KEY] = upload.file_id
    if upload.size > MAX_INPUT:
        return t("recall.too_big", size=MAX_INPUT // 1024 // 1024)
    recipe = read_recipe(upload.getvalue())
    if recipe is None:
        return t("recall.nothing_found")
    # A drawn widget keeps its value (its `value=` is read once): set the seed and negative
    # prompt fields themselves, for the recalled model and any drawn before.
    _set_fields(recipe)
    st.session_state[PREFILL_KEY] = prefill_of(recipe)
    extra = {k: v for k, v in recipe.params.items() if k not in OPTIONS and k != "seed"}
    extra.pop("negative_prompt", None)
    shown = ", ".join(f"{k}: {v}" for k, v in list(extra.items())[:6])
    st.session_state[NOTICE_KEY] = {"source": recipe.source, "extra": shown}
    st.rerun()
    return None


def _set_fields(recipe: Recipe) -> None:
    values = {
        "gen_seed_": "" if recipe.seed is None else str(recipe.seed),
        "gen_negative_": recipe.negative_prompt or "",
    }
    for prefix, value in values.items():
        keys = {k for k in st.session_state if str(k).startswith(prefix)}
        if recipe.model:
            keys.add(prefix + recipe.model)
        for key in keys:
            st.session_state[key] = value
    for key in [
        k for k in st.session_state if str(k).startswith(tuple(f"gen_{o}_" for o in OPTIONS))
    ]:
        del st.session_state[key]  # the options go back to the model's default, then the preset
