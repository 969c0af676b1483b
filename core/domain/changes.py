"""An in-process "a job changed" signal, so live views wake when something happens instead of
sleeping a fixed interval.

Writers (the notifying job store, `core.backends.notify`) call `notify` after a job's row
changed state; readers (live page fragments, event streams) remember the `version` they last
rendered and `wait` for a newer one, with a timeout. It is process-local: a worker running in
another process (`python -m core worker`, or Supabase mode) does not notify this one, so every
reader keeps its timeout as the fallback poll.

Versions are per user: a change to one of Ann's jobs wakes Ann's waiters only. A change whose
owner the writer does not know (a lease-checked `finish` by job id) counts for every user.
"""

from __future__ import annotations

import threading
import time


class JobChanges:
    """Monotonic per-user change counters and a condition to wait on them."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._anyone = 0  # changes whose owner the writer did not know: everyone's
        self._per_user: dict[str, int] = {}

    def _version(self, user_id: str) -> int:
        return self._anyone + self._per_user.get(user_id, 0)

    def version(self, user_id: str) -> int:
        """The user's current version: it grows with every change that may concern them."""
        with self._cond:
            return self._version(user_id)

    def notify(self, user_id: str | None = None) -> None:
        """One of `user_id`'s jobs changed (None: owner unknown, so possibly anyone's)."""
        with self._cond:
            if user_id is None:
                self._anyone += 1
            else:
                self._per_user[user_id] = self._per_user.get(user_id, 0) + 1
            self._cond.notify_all()

    def wait(self, user_id: str, since: int, timeout: float) -> int:
        """Block until the user's version passes `since` or `timeout` seconds went by; return
        the version then (equal to `since` on a timeout)."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            while (current := self._version(user_id)) <= since:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return current
