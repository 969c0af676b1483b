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
from pages.i18n import fmt_list, option_names, t

NEW_SECRET_KEY = "webhooks_new_secret"
FLASH_KEY = "webhooks_flash"
LOG_SIZE = 20
# The events' and delivery states' names (the API's identifiers stay as they are).
EVENT_NAMES = {
    "job.queued": "webhooks.event_queued",
    "job.started": "webhooks.event_started",
    "job.succeeded": "webhooks.event_succeeded",
    "job.failed": "webhooks.event_failed",
    "job.canceled": "webhooks.event_canceled",
}
DELIVERY_NAMES = {
    DeliveryStatus.PENDING: "webhooks.delivery_pending",
    DeliveryStatus.DELIVERED: "webhooks.delivery_delivered",
    DeliveryStatus.FAILED: "webhooks.delivery_failed",
    DeliveryStatus.GONE: "webhooks.delivery_gone",
}


def event_name(event: str) -> str:
    key = EVENT_NAMES.get(event)
    return t(key) if key else event


def webhooks_section(user: User, svc: Services) -> None:
    st.divider()
    st.subheader(t("webhooks.title"))
    if not svc.webhooks.available:
        st.caption(t("webhooks.unavailable"))
        return
    st.caption(t("webhooks.caption"))
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash, icon=":material/check_circle:")
    secret = st.session_state.pop(NEW_SECRET_KEY, None)
    if secret:
        st.success(t("webhooks.copy_secret"))
        st.code(secret, language=None)

    with st.form("new_webhook", clear_on_submit=True):
        url = st.text_input(
            t("webhooks.url"),
            max_chars=2000,
            placeholder="https://example.com/hooks",
            key="webhooks_url",
        )
        events = st.multiselect(
            t("webhooks.events"),
            list(EVENTS),
            default=list(EVENTS),
            format_func=option_names({e: event_name(e) for e in EVENTS}, key="webhooks_events"),
            key="webhooks_events",
        )
        if st.form_submit_button(t("webhooks.add"), icon=":material/webhook:"):
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
                events = fmt_list([event_name(e) for e in endpoint.events])
                added = widgets.fmt_time(endpoint.created_at)
                if endpoint.enabled:
                    st.caption(t("webhooks.endpoint_active", events=events, added=added))
                else:
                    st.caption(
                        t(
                            "webhooks.endpoint_disabled",
                            events=events,
                            added=added,
                            reason=widgets.md_escape(endpoint.disabled_reason or "—"),
                        )
                    )
            if action.button(t("webhooks.delete"), key=f"hook_delete_{endpoint.id}"):
                try:
                    svc.webhooks.delete_endpoint(user, endpoint.id)
                except StudioError as exc:
                    widgets.show_error(exc)
                else:
                    st.session_state[FLASH_KEY] = t("webhooks.deleted")
                    st.rerun()

    if st.button(t("webhooks.new_job_secret"), icon=":material/key:", key="webhooks_rotate"):
        try:
            st.session_state[NEW_SECRET_KEY] = svc.webhooks.rotate_job_secret(user)
        except StudioError as exc:
            widgets.show_error(exc)
        else:
            st.rerun()

    deliveries = svc.webhooks.deliveries(user, limit=LOG_SIZE)
    st.markdown(t("webhooks.recent"))
    if not deliveries:
        st.caption(t("webhooks.no_deliveries"))
    for delivery in deliveries:
        info, action = st.columns([4, 1])
        code = delivery.last_status_code or (delivery.last_error or "—")
        info.caption(
            t(
                "webhooks.delivery",
                event=delivery.event,
                job=delivery.job_id[:8],
                status=t(DELIVERY_NAMES[delivery.status]),
                count=delivery.attempts,
                last=widgets.md_escape(str(code)),
                time=widgets.fmt_time(delivery.created_at),
            )
        )
        if delivery.status is not DeliveryStatus.PENDING and action.button(
            t("webhooks.resend"), key=f"hook_resend_{delivery.id}"
        ):
            try:
                svc.webhooks.resend(user, delivery.id)
            except StudioError as exc:
                widgets.show_error(exc)
            else:
                st.session_state[FLASH_KEY] = t("webhooks.resent")
                st.rerun()
