"""The retention sweeper: every CLEANUP_INTERVAL, delete done jobs older than RETENTION_DONE and
failed/canceled jobs older than RETENTION_FAILED, with their files (core.services.purge).

Every app process and headless worker may run a Sweeper; a `sweep-schedule` lease held for one
interval makes only one of them sweep per interval, and the purge lease keeps a manual run and a
scheduled one from overlapping. Each run is recorded for the admin page."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from core.domain.settings import Settings
from core.ports import Backend, SweepRun
from core.services import purge

log = logging.getLogger(__name__)

SCHEDULE_LEASE = "sweep-schedule"
FIRST_RUN_DELAY = 30.0  # let the process settle before the first sweep
BUSY_RETRY = 60.0  # another purge was running: try again this soon


class Sweeper:
    """Runs `run_once` on a daemon thread every `settings.cleanup_interval` seconds."""

    def __init__(
        self,
        backend: Backend,
        settings: Settings,
        *,
        first_delay: float | None = None,
        owner: str | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.interval = max(1.0, float(settings.cleanup_interval))
        self.first_delay = (
            min(FIRST_RUN_DELAY, self.interval) if first_delay is None else first_delay
        )
        self.owner = owner or purge.process_owner("sweeper")
        self.last_run: SweepRun | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.alive:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="sweeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop; a sweep in progress ends after its current batch."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(
        self, *, trigger: str = "manual", batch_size: int = purge.DEFAULT_BATCH
    ) -> SweepRun | None:
        """One sweep. A scheduled run happens only if this process wins this interval's
        schedule lease. Returns the recorded run, or None when skipped (another process swept
        this interval, or is purging right now)."""
        jobs = self.backend.jobs
        if trigger == "schedule" and not jobs.try_acquire_lease(
            SCHEDULE_LEASE, self.owner, self.interval * 0.95
        ):
            return None
        criteria = purge.retention_criteria(self.settings, datetime.now(UTC))
        try:
            report, run = purge.run_recorded(
                self.backend,
                criteria,
                trigger=trigger,
                owner=self.owner,
                batch_size=batch_size,
                stop=self._stop,
            )
        except purge.PurgeBusy:
            return None
        self.last_run = run
        if report.deleted_jobs or report.kept_jobs:
            log.info(
                "sweep: deleted %d jobs (%d bytes), kept %d after file errors",
                report.deleted_jobs,
                report.deleted_bytes,
                report.kept_jobs,
            )
        return run

    def _loop(self) -> None:
        wait = self.first_delay
        while not self._stop.wait(wait):
            wait = self.interval
            try:
                if self.run_once(trigger="schedule") is None and self._busy_elsewhere():
                    wait = min(BUSY_RETRY, self.interval)
            except Exception:  # keep sweeping next interval; never kill the thread
                log.exception("sweep failed")

    def _busy_elsewhere(self) -> bool:
        """We hold the schedule lease but the purge lease was taken: retry soon."""
        return self.backend.jobs.try_acquire_lease(SCHEDULE_LEASE, self.owner, self.interval * 0.95)
