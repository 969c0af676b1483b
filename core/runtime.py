"""The process-wide Runtime: settings, backend, providers, the services and the local worker and
sweeper, built once per process (by the app's lifespan, or lazily by the first page that needs
it). Pages, the API and the CLI use `runtime.services` only; the rest is the runtime's own."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from core.backends import open_backend
from core.domain.settings import Settings
from core.domain.webhooks import WebhookConfig
from core.ports import Backend
from core.providers import build_providers
from core.providers.base import Provider
from core.queue.webhooks import WebhookDispatcher
from core.queue.worker import Worker
from core.services import Services, build_services
from core.services.sweeper import Sweeper

log = logging.getLogger(__name__)

# HTTP client loggers print full request URLs at INFO: provider result links carry signatures
# and Supabase lookups carry session hashes. Keep them to warnings unless configured otherwise.
_URL_LOGGERS = ("httpx", "httpx2", "httpcore")


def _quiet_url_loggers() -> None:
    for name in _URL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.WARNING)


@dataclass
class Runtime:
    settings: Settings
    backend: Backend
    providers: dict[str, Provider]
    services: Services
    worker: Worker | None = None  # once started
    sweeper: Sweeper | None = None  # once started
    stopping: bool = False  # stop() has begun: never start again
    dispatcher: WebhookDispatcher | None = None  # webhook deliveries, once started

    def start(self) -> None:
        """Start the background worker and the sweeper if enabled."""
        if not self.settings.worker_enabled or self.worker is not None or self.stopping:
            return
        worker = Worker(self.backend, self.providers, self.settings)
        worker.start()
        self.worker = worker
        self.services.jobs.set_wake_worker(worker.wake)
        sweeper = Sweeper(self.backend, self.settings)
        sweeper.start()
        self.sweeper = sweeper
        self.services.admin.attach_background(worker_stats=worker.stats, sweeper=sweeper)
        if self.backend.webhooks is not None:
            self.dispatcher = WebhookDispatcher(
                self.backend.webhooks, WebhookConfig.from_settings(self.settings)
            )
            self.dispatcher.start()

    def stop(self) -> None:
        """Stop claiming, give running jobs a bounded grace period, release the rest."""
        self.stopping = True
        self.services.admin.attach_background(worker_stats=None, sweeper=None)
        if self.dispatcher is not None:
            self.dispatcher.stop()
            self.dispatcher = None
        if self.sweeper is not None:
            self.sweeper.stop()
            self.sweeper = None
        if self.worker is not None:
            self.worker.stop(self.settings.shutdown_grace_seconds)
            self.worker = None
        self.backend.close()


def build_runtime(settings: Settings | None = None) -> Runtime:
    """A new Runtime (not started)."""
    _quiet_url_loggers()
    settings = settings or Settings.load()
    backend = open_backend(settings)
    providers = build_providers(settings)
    return Runtime(settings, backend, providers, build_services(backend, providers, settings))


_lock = threading.Lock()
_current: Runtime | None = None


def get_runtime() -> Runtime:
    """The process's Runtime, built and started on first use. While it shuts down this is
    still the stopping one (its worker claims nothing more): building a fresh runtime then
    would start a worker that re-claims the jobs just handed back, and that nobody stops."""
    global _current
    with _lock:
        if _current is None:
            runtime = build_runtime()
            runtime.start()
            _current = runtime
        return _current


def install_runtime(runtime: Runtime) -> None:
    """Make `runtime` the process's Runtime (the lifespan builds it before any page runs)."""
    global _current
    with _lock:
        _current = runtime


def shutdown_runtime() -> None:
    """Stop the process's Runtime (once; a concurrent second call returns at once) and
    forget it when it has stopped."""
    global _current
    with _lock:
        runtime = _current
        if runtime is None or runtime.stopping:
            return
        runtime.stopping = True  # under the lock: get_runtime sees it from now on
    try:
        runtime.stop()
    finally:
        with _lock:
            if _current is runtime:
                _current = None
