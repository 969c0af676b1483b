"""Constants more than one test module needs, defined once."""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher

REPO_ROOT = Path(__file__).resolve().parent.parent

# The password of every test account (long enough for the sign-up rules).
PASSWORD = "correct horse battery"
# Argon2 at its cheapest, so that signing up and in costs tests next to nothing.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
# A rate limit or quota no test reaches.
NO_LIMIT = 1_000_000
# Seconds of a job lease no test outlives (tests that let leases expire use their own).
LEASE = 30.0
# The statistics rollup tables (SQLite migration 012, supabase-schema.sql), which the stats read.
STATS_ROLLUP_TABLES = frozenset(
    {
        "stats_day_provider",
        "stats_day_failure",
        "stats_day_latency",
        "stats_day_user",
        "stats_day_spend",
        "stats_week_spend",
    }
)
