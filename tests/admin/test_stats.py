"""Usage and health figures: jobs per day and provider, failures, latency, top users, spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from core.backends.sqlite.db import to_us
from core.domain.errors import ValidationError
from core.domain.models import JobStatus
from core.providers.base import Capabilities, ModelInfo, Provider
from core.providers.demo import DemoProvider
from core.services import stats
from tests.admin.conftest import Deployment
from tests.contract.support import percentile


class PricedProvider(Provider):
    name: ClassVar[str] = "priced"
    label: ClassVar[str] = "Priced (tests)"
    key_setting: ClassVar[str | None] = "PRICED_API_KEY"
    models: ClassVar[tuple[ModelInfo, ...]] = (
        ModelInfo("cheap", "Cheap", Capabilities(), default=True, price_per_image_usd=0.04),
        ModelInfo("mystery", "Unpriced", Capabilities()),
    )


def _set_timing(dep: Deployment, job_id: str, created: datetime, seconds: float) -> None:
    assert dep.backend.db is not None
    start = to_us(created)
    with dep.backend.db.write() as conn:
        conn.execute(
            "UPDATE jobs SET created_at = ?, started_at = ?, finished_at = ? WHERE id = ?",
            (start, start, start + int(seconds * 1_000_000), job_id),
        )


def test_the_dashboard_counts_jobs_failures_latency_users_and_spend(dep: Deployment):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    demo_done = dep.finished(dep.alice, 4)
    for seconds, job in zip([1, 2, 3, 10], demo_done, strict=True):
        _set_timing(dep, job.id, today + timedelta(minutes=1), seconds)
    failed = dep.finished(dep.bob, 2, status=JobStatus.FAILED)
    for job in failed:
        _set_timing(dep, job.id, yesterday + timedelta(hours=1), 1)
    recorded = dep.finished(dep.bob, 1, provider="priced", model="cheap", meta={"cost_usd": 0.5})
    estimated = dep.finished(dep.bob, 2, provider="priced", model="cheap")
    unknown = dep.finished(dep.alice, 1, provider="priced", model="mystery")
    for job in recorded + estimated + unknown:
        _set_timing(dep, job.id, today + timedelta(minutes=2), 4)
    dep.finished(dep.alice, 1, age=timedelta(days=40))  # outside the window
    dep.queued(dep.alice, 2)
    providers = {"demo": DemoProvider(), "priced": PricedProvider()}

    board = stats.build_dashboard(dep.backend, providers, days=30)

    per_day = {(d.day, d.provider): (d.jobs, d.failed) for d in board.usage.per_day}
    assert per_day[(today.date(), "demo")] == (6, 0)  # 4 done + 2 queued
    assert per_day[(yesterday.date(), "demo")] == (2, 2)
    assert per_day[(today.date(), "priced")] == (4, 0)
    assert board.total_jobs == 12
    rates = {r.provider: (r.jobs, r.failed, r.rate) for r in board.failure_rates}
    assert rates["demo"] == (8, 2, 0.25)
    assert [(f.provider, f.error_code, f.jobs) for f in board.usage.failures] == [
        ("demo", "safety_blocked", 2)
    ]
    latency = {p.provider: p for p in board.usage.latency}
    assert (latency["demo"].jobs, latency["demo"].p50_seconds, latency["demo"].p95_seconds) == (
        4,
        2.0,
        10.0,
    )
    assert latency["priced"].p50_seconds == pytest.approx(4.0)
    top = [(u.user_id, u.jobs, u.done, u.failed) for u in board.usage.top_users]
    assert top[0] == (dep.alice.id, 7, 5, 0)
    assert top[1] == (dep.bob.id, 5, 3, 2)
    spend = {s.key: s for s in board.spend_by_provider}
    assert spend["priced"].usd == pytest.approx(0.5 + 2 * 0.04)
    assert (spend["priced"].images, spend["priced"].unpriced) == (4, 1)
    assert spend["demo"].usd == 0.0 and spend["demo"].unpriced == 0
    by_user = {s.key: s.usd for s in board.spend_by_user}
    assert by_user[dep.bob.id] == pytest.approx(0.58)
    assert by_user[dep.alice.id] == 0.0
    assert board.queue.queued == 2 and board.queue.oldest_queued_seconds is not None


def test_stats_take_a_sane_window(dep: Deployment):
    with pytest.raises(ValidationError):
        dep.services.admin.stats(dep.admin, days=0)
    with pytest.raises(ValidationError):
        dep.services.admin.stats(dep.admin, days=10_000)
    assert dep.services.admin.stats(dep.admin, days=7).total_jobs == 0


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0
    assert percentile([], 0.5) == 0.0


def test_an_adapters_estimated_cost_counts_when_no_cost_is_recorded(dep: Deployment):
    dep.finished(dep.alice, 2, meta={"estimated_cost_usd": 0.25})
    dep.finished(dep.alice, 1, meta={"estimated_cost_usd": 0.25, "cost_usd": 0.1})
    board = stats.build_dashboard(dep.backend, {"demo": DemoProvider()}, days=1)
    assert board.spend_by_provider[0].usd == pytest.approx(0.6)
    assert [(s.provider, s.images, s.priced) for s in board.usage.spend] == [("demo", 3, 3)]


def test_opening_a_version_2_database_with_a_retired_column_replaces_it(
    dep: Deployment,
):
    from core.backends.sqlite.db import Database

    assert dep.backend.db is not None
    with dep.backend.db.write() as conn:
        # that version had neither the statistics rollups' triggers (migration 12, which also
        # dropped this index) nor the index's successors
        for trigger in ("jobs_stats_insert", "jobs_stats_delete", "jobs_stats_update"):
            conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute("DROP INDEX IF EXISTS jobs_spend_by")
        conn.execute("ALTER TABLE jobs DROP COLUMN admin_spend_usd")
        conn.execute(
            "ALTER TABLE jobs ADD COLUMN admin_cost_usd REAL GENERATED ALWAYS AS "
            "(json_extract(result_meta, '$.cost_usd')) VIRTUAL"
        )
        conn.execute("CREATE INDEX jobs_spend_groups ON jobs (status, admin_cost_usd)")
        conn.execute("PRAGMA user_version = 2")  # as left by that development version

    Database(dep.backend.db.path).close()  # opening migrates

    columns = {r[1] for r in dep.backend.db.conn.execute("PRAGMA table_xinfo(jobs)")}
    assert "admin_spend_usd" in columns and "admin_cost_usd" not in columns
    dep.finished(dep.bob, 1, meta={"cost_usd": 0.5})
    assert dep.services.admin.stats(dep.admin, days=1).spend_by_provider[0].usd == pytest.approx(
        0.5
    )
