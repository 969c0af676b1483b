"""The Account page's Webhooks section: add an endpoint (secret shown once), a refused URL
changes nothing, the delivery log with Resend, the per-job secret, delete."""

from __future__ import annotations

from collections.abc import Callable

from core.domain.models import JobRequest
from core.domain.webhooks import DeliveryStatus
from tests.ui.conftest import Studio
from tests.ui.helpers import button, errors, page_text

ACCOUNT = "pages/account.py"
URL = "https://hooks.example.com/studio"


def _url_field(at):  # type: ignore[no-untyped-def]
    (found,) = [t for t in at.text_input if t.label == "Endpoint URL"]
    return found


def test_endpoints_deliveries_and_resend(studio_factory: Callable[..., Studio]) -> None:
    studio = studio_factory(worker_enabled=False)  # no dispatcher: the log stays as set here
    ada = studio.person("owner@example.com")
    hooks = studio.services.webhooks

    at = studio.app(ada, ACCOUNT)
    assert "Webhooks" in [h.value for h in at.subheader]
    _url_field(at).input("http://10.0.0.1/hook")
    at = button(at, "Add endpoint").click().run()
    assert errors(at) and hooks.list_endpoints(ada.user) == []

    _url_field(at).input(URL)
    at = button(at, "Add endpoint").click().run()
    secrets = [c.value for c in at.code if str(c.value).startswith("whsec_")]
    assert len(secrets) == 1
    (endpoint,) = hooks.list_endpoints(ada.user)
    assert endpoint.url == URL
    at.run()
    assert secrets[0] not in page_text(at)  # shown once
    assert URL in page_text(at)

    studio.services.jobs.submit(ada.user, JobRequest(provider="demo", model="", prompt="a kite"))
    store = studio.runtime.backend.webhooks
    assert store is not None
    store.fan_out()
    (claimed,) = store.claim_deliveries("test", 30, 5)
    store.record_attempt(
        claimed.id, "test", status_code=500, error="HTTP 500", outcome=DeliveryStatus.FAILED
    )
    at.run()
    assert "job.queued" in page_text(at) and "failed" in page_text(at)
    at = at.button(key=f"hook_resend_{claimed.id}").click().run()
    again = store.get_delivery(claimed.id)
    assert again is not None and again.status is DeliveryStatus.PENDING and again.attempts == 0
    assert "Queued to send again." in page_text(at)

    at = button(at, "New secret for jobs' own webhook_url").click().run()
    assert any(str(c.value).startswith("whsec_") for c in at.code)
    assert hooks.has_job_secret(ada.user)

    at = at.button(key=f"hook_delete_{endpoint.id}").click().run()
    assert hooks.list_endpoints(ada.user) == []
    assert "Endpoint deleted." in page_text(at)


def test_another_users_endpoints_are_not_shown(studio_factory: Callable[..., Studio]) -> None:
    studio = studio_factory(worker_enabled=False)
    ada, bob = studio.person("owner@example.com"), studio.person("bob@example.com")
    studio.services.webhooks.create_endpoint(ada.user, URL, ["*"])
    at = studio.app(bob, ACCOUNT)
    assert URL not in page_text(at)
    assert "No deliveries yet." in page_text(at)
