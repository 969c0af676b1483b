"""Starlette handlers for /api/* (parse → JobService → JSON). Registered by app.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from core.runtime import get_runtime


async def health(request: Request) -> JSONResponse:
    """Liveness: backend, worker state and queue depth. No auth."""
    runtime = get_runtime()
    depth = runtime.service.queue_depth()
    worker = runtime.worker
    return JSONResponse(
        {
            "status": "ok",
            "backend": runtime.backend.name,
            "worker": {"alive": bool(worker is not None and getattr(worker, "alive", False))},
            "queue": {
                "queued": depth.queued,
                "processing": depth.processing,
                "oldest_queued_seconds": depth.oldest_queued_seconds,
            },
        }
    )


def api_routes() -> list[BaseRoute]:
    """Every /api/* route."""
    return [Route("/api/health", health, methods=["GET"])]
