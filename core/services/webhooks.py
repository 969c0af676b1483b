"""WebhooksService: a person's webhook endpoints, their per-job webhook secret, the delivery
log with resend, and the job event log that event streams read (issue 15). Ownership is
checked here: another user's endpoint or delivery is NotFound."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.errors import NotFound, StudioError, ValidationError
from core.domain.models import Role, User, is_uuid
from core.domain.settings import Settings
from core.domain.webhooks import (
    MAX_ENDPOINTS_PER_USER,
    JobEvent,
    WebhookConfig,
    WebhookDelivery,
    WebhookEndpoint,
    check_events,
    check_url,
)
from core.ports import Backend, WebhookStore
from core.services.access import page_limit, require_role

MAX_DELIVERY_ID = 64


class WebhooksUnavailable(StudioError):
    """This backend keeps no webhooks."""

    code = "webhooks_unavailable"
    http_status = 503


@dataclass(frozen=True)
class CreatedEndpoint:
    """A new endpoint and its signing secret, shown this once."""

    endpoint: WebhookEndpoint
    secret: str


class WebhooksService:
    def __init__(self, backend: Backend, config: WebhookConfig) -> None:
        self.backend = backend
        self.config = config

    @property
    def available(self) -> bool:
        return self.backend.webhooks is not None

    def _store(self) -> WebhookStore:
        if self.backend.webhooks is None:
            raise WebhooksUnavailable(
                "Webhooks are not available on this backend.", reason="webhooks_unavailable"
            )
        return self.backend.webhooks

    # ---- endpoints ---------------------------------------------------------------------------

    def create_endpoint(self, user: User, url: object, events: object) -> CreatedEndpoint:
        require_role(user, Role.USER)
        clean_url = check_url(url, self.config.policy)
        clean_events = check_events(events)
        store = self._store()
        endpoint = store.create_endpoint(
            user.id, clean_url, clean_events, max_per_user=MAX_ENDPOINTS_PER_USER
        )
        return CreatedEndpoint(endpoint, store.secret(endpoint.salt))

    def list_endpoints(self, user: User) -> list[WebhookEndpoint]:
        require_role(user, Role.USER)
        return self._store().list_endpoints(user.id)

    def delete_endpoint(self, user: User, endpoint_id: str) -> None:
        require_role(user, Role.USER)
        if not is_uuid(endpoint_id) or not self._store().delete_endpoint(user.id, endpoint_id):
            raise NotFound("No such webhook endpoint.", reason="webhook_not_found")

    def _own_endpoint(self, user: User, endpoint_id: str) -> WebhookEndpoint:
        endpoint = self._store().get_endpoint(endpoint_id) if is_uuid(endpoint_id) else None
        if endpoint is None or endpoint.user_id != user.id:
            raise NotFound("No such webhook endpoint.", reason="webhook_not_found")
        return endpoint

    # ---- per-job webhook_url -----------------------------------------------------------------

    def rotate_job_secret(self, user: User) -> str:
        """A new signing secret for the user's per-job webhook_urls (shown once; the old one
        stops signing new deliveries)."""
        require_role(user, Role.USER)
        store = self._store()
        return store.secret(store.account_salt(user.id, rotate=True) or "")

    def has_job_secret(self, user: User) -> bool:
        return self._store().account_salt(user.id) is not None

    def check_job_url(self, user: User, url: object) -> str:
        """A per-job webhook_url fit to use; ValidationError (nothing changes) otherwise."""
        clean = check_url(url, self.config.policy)
        if not self.has_job_secret(user):
            raise ValidationError(
                "Create your webhook signing secret first (POST /api/webhooks/secret): "
                "deliveries to a job's webhook_url are signed with it.",
                reason="webhook_secret_first",
            )
        return clean

    def attach_job_url(self, user: User, job_ids: list[str], url: str) -> None:
        self._store().attach_job_urls(user.id, job_ids, url)

    # ---- deliveries ------------------------------------------------------------------------

    def deliveries(
        self, user: User, *, endpoint_id: str | None = None, limit: int = 50
    ) -> list[WebhookDelivery]:
        require_role(user, Role.USER)
        if endpoint_id is not None:
            self._own_endpoint(user, endpoint_id)
        return self._store().list_deliveries(
            user.id, endpoint_id=endpoint_id, limit=page_limit(limit)
        )

    def resend(self, user: User, delivery_id: str) -> WebhookDelivery:
        require_role(user, Role.USER)
        store = self._store()
        ok_id = isinstance(delivery_id, str) and 0 < len(delivery_id) <= MAX_DELIVERY_ID
        delivery = store.get_delivery(delivery_id) if ok_id else None
        if delivery is None or delivery.user_id != user.id:
            raise NotFound("No such delivery.", reason="delivery_not_found")
        if not store.resend(user.id, delivery_id):
            raise ValidationError(
                "This delivery's endpoint is disabled or gone: nothing to resend.",
                reason="resend_endpoint_gone",
            )
        again = store.get_delivery(delivery_id)
        assert again is not None
        return again

    # ---- the job event log (event streams) --------------------------------------------------
    # (`config` holds the streams' bounds: keep-alive, caps per user and per server)

    def events_after(
        self, user: User, after_seq: int, *, job_id: str | None = None, limit: int = 100
    ) -> list[JobEvent]:
        require_role(user, Role.USER)
        return self._store().events_after(user.id, after_seq, job_id=job_id, limit=limit)

    def last_event_seq(self, user: User, *, job_id: str | None = None) -> int:
        return self._store().last_event_seq(user.id, job_id=job_id)


def attach_job_webhook(
    backend: Backend, settings: Settings, user: User, job_ids: list[str], url: object
) -> None:
    """Check a per-job webhook_url and remember it for `job_ids` before they are created (so
    the fan-out of their first event finds it). ValidationError, changing nothing, for a URL
    the address policy refuses or a user without a per-job secret."""
    service = WebhooksService(backend, WebhookConfig.from_settings(settings))
    service.attach_job_url(user, job_ids, service.check_job_url(user, url))
