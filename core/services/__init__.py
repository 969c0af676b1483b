"""The services pages, the REST API and the CLI call — and nothing else of core's stores:
jobs (a person's own jobs and images), accounts (sessions and API tokens), review (the review
queue and decisions) and admin (purge, sweeps, usage, users, and the operator's CLI commands).
`build_services` composes them once over one backend; the runtime holds the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.domain.settings import Settings
from core.domain.webhooks import WebhookConfig
from core.ports import Backend
from core.providers.base import Provider
from core.services.accounts import AccountsService
from core.services.admin import AdminService
from core.services.jobs import JobsService
from core.services.review import ReviewService
from core.services.webhooks import WebhooksService


@dataclass(frozen=True)
class Services:
    """The four focused services of one deployment."""

    jobs: JobsService
    accounts: AccountsService
    review: ReviewService
    admin: AdminService
    webhooks: WebhooksService


def build_services(
    backend: Backend,
    providers: dict[str, Provider],
    settings: Settings,
    *,
    wake_worker: Callable[[], None] | None = None,
) -> Services:
    """The services over `backend`, sharing its stores, the providers and the settings."""
    accounts = AccountsService(backend, settings)
    return Services(
        jobs=JobsService(backend, providers, settings, wake_worker=wake_worker),
        accounts=accounts,
        review=ReviewService(backend),
        admin=AdminService(backend, providers, settings, accounts),
        webhooks=WebhooksService(backend, WebhookConfig.from_settings(settings)),
    )
