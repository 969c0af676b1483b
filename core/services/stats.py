"""Usage and health figures for the admin page, built from the backend's `usage_stats` plus the
live queue depth. Spend is the cost recorded in each job's `result_meta` (`cost_usd`, else the
adapter's `estimated_cost_usd`), or, for jobs that carry neither, the model's catalogue price."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.domain.models import QueueDepth
from core.ports import Backend, UsageStats
from core.providers.base import Provider
from core.services.purge import admin_store


@dataclass(frozen=True)
class FailureRate:
    provider: str
    jobs: int
    failed: int

    @property
    def rate(self) -> float:
        return self.failed / self.jobs if self.jobs else 0.0


@dataclass(frozen=True)
class Spend:
    """Estimated spend of one provider or user. `unpriced` done jobs had no known price."""

    key: str
    images: int
    usd: float
    unpriced: int


@dataclass(frozen=True)
class Dashboard:
    usage: UsageStats
    queue: QueueDepth
    failure_rates: list[FailureRate]
    spend_by_provider: list[Spend]
    spend_by_user: list[Spend]

    @property
    def total_jobs(self) -> int:
        return sum(d.jobs for d in self.usage.per_day)


def build_dashboard(
    backend: Backend,
    providers: Mapping[str, Provider],
    *,
    days: int = 30,
    top_users: int = 10,
    now: datetime | None = None,
) -> Dashboard:
    """Every figure of the admin page's usage section for jobs created in the last `days`."""
    now = now or datetime.now(UTC)
    since = (now - timedelta(days=max(1, days))).replace(hour=0, minute=0, second=0, microsecond=0)
    usage = admin_store(backend).usage_stats(since, top_users=top_users)
    by_provider: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in usage.per_day:
        by_provider[row.provider][0] += row.jobs
        by_provider[row.provider][1] += row.failed
    rates = [FailureRate(p, jobs, failed) for p, (jobs, failed) in sorted(by_provider.items())]
    spend_p, spend_u = estimate_spend(usage, providers)
    return Dashboard(
        usage=usage,
        queue=backend.jobs.queue_depth(),
        failure_rates=rates,
        spend_by_provider=spend_p,
        spend_by_user=spend_u,
    )


def estimate_spend(
    usage: UsageStats, providers: Mapping[str, Provider]
) -> tuple[list[Spend], list[Spend]]:
    """(per provider, per user), most expensive first."""
    per_provider: dict[str, _SpendAcc] = defaultdict(_SpendAcc)
    per_user: dict[str, _SpendAcc] = defaultdict(_SpendAcc)
    for row in usage.spend:
        usd, unpriced = row.recorded_usd, 0
        missing = row.images - row.priced
        if missing:
            price = model_price(providers, row.provider, row.model)
            if price is None:
                unpriced = missing
            else:
                usd += price * missing
        for acc in (per_provider[row.provider], per_user[row.user_id]):
            acc.images += row.images
            acc.usd += usd
            acc.unpriced += unpriced
    return _spend_rows(per_provider), _spend_rows(per_user)


@dataclass
class _SpendAcc:
    images: int = 0
    usd: float = 0.0
    unpriced: int = 0


def _spend_rows(accs: dict[str, _SpendAcc]) -> list[Spend]:
    out = [Spend(k, a.images, round(a.usd, 4), a.unpriced) for k, a in accs.items()]
    return sorted(out, key=lambda s: (-s.usd, -s.images, s.key))


def model_price(providers: Mapping[str, Provider], provider: str, model: str) -> float | None:
    """The catalogue price per image; 0 for the offline demo; None when unknown."""
    adapter = providers.get(provider)
    if adapter is None:
        return None
    for info in adapter.models:
        if info.id == model:
            price = getattr(info, "price_per_image_usd", None)
            if price is None and adapter.key_setting is None:
                return 0.0  # keyless (demo): free
            return price
    return None
