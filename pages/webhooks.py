"""The Account page's Webhooks section (issue 15): endpoints (URL + events; the signing secret
shown once), the per-job webhook secret, and the delivery log with "Resend". Called from
pages/account.py with one line: `webhooks_section(user, svc)`."""

from __future__ import annotations

import streamlit as st

from core.domain.errors import StudioError
from core.domain.models import User
from core.domain.webhooks import EVENTS, DeliveryStatus
from core.services import Services
from pages import widgets

NEW_SECRET_KEY = "webhooks_new_secret"
FLASH_KEY = "webhooks_flash"
LOG_SIZE = 20


def webhooks_section(user: User, svc: Services) -> None:
    st.divider()
    st.subheader("Webhooks")
    if not svc.webhooks.available:
        st.caption("Webhooks need SECRET_KEY on this deployment.")
        return
    st.caption(
        "The studio POSTs your jobs' events to these URLs, signed per Standard Webhooks "
        "(verify with the secret; see the README). Or pass `webhook_url` on POST /api/jobs; "
        "streams: GET /api/events."
    )
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    secret = st.session_state.pop(NEW_SECRET_KEY, None)
    if secret:
        st.success("Copy the signing secret now: it will not be shown again.")
        st.code(secret, language=None)

    with st.form("new_webhook", clear_on_submit=True):
        url = st.text_input("Endpoint URL", max_chars=2000, placeholder="https://example.com/hooks")
        events = st.multiselect("Events", list(EVENTS), default=list(EVENTS))
        if st.form_submit_button("Add endpoint", icon=":material/webhook:"):
            try:
                created = svc.webhooks.create_endpoint(user, url, events)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.session_state[NEW_SECRET_KEY] = created.secret
                st.rerun()

    for endpoint in svc.webhooks.list_endpoints(user):
        with st.container(border=True):
            info, action = st.columns([4, 1])
            with info:
                st.text(endpoint.url)
                state = "active" if endpoint.enabled else f"disabled: {endpoint.disabled_reason}"
                st.caption(
                    f"{', '.join(endpoint.events)} · added {widgets.fmt_time(endpoint.created_at)}"
                    f" · {state}"
                )
            if action.button("Delete", key=f"hook_delete_{endpoint.id}"):
                try:
                    svc.webhooks.delete_endpoint(user, endpoint.id)
                except StudioError as exc:
                    widgets.show_error(exc)
                else:
                    st.session_state[FLASH_KEY] = "Endpoint deleted."
                    st.rerun()

    if st.button("New secret for jobs' own webhook_url", icon=":material/key:"):
        try:
            st.session_state[NEW_SECRET_KEY] = svc.webhooks.rotate_job_secret(user)
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            st.rerun()

    deliveries = svc.webhooks.deliveries(user, limit=LOG_SIZE)
    st.markdown("**Recent deliveries**")
    if not deliveries:
        st.caption("No deliveries yet.")
    for delivery in deliveries:
        info, action = st.columns([4, 1])
        code = delivery.last_status_code or (delivery.last_error or "—")
        info.caption(
            f"{delivery.event} · job {delivery.job_id[:8]} · "
            f"**{delivery.status.value}** · {delivery.attempts} attempt(s) · last: "
            f"{widgets.md_escape(str(code))} · {widgets.fmt_time(delivery.created_at)}"
        )
        if delivery.status is not DeliveryStatus.PENDING and action.button(
            "Resend", key=f"hook_resend_{delivery.id}"
        ):
            try:
                svc.webhooks.resend(user, delivery.id)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.session_state[FLASH_KEY] = "Queued to send again."
                st.rerun()
