"""The app factory: ``create_app(settings)`` builds a FastAPI app that owns its engine and worker.

On startup it runs the migrations (``settings.migrate_on_startup``) and starts the redelivery
worker (``settings.worker_enabled``); on shutdown it stops the worker, letting deliveries in flight
finish, and disposes of the engine.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware import Middleware

from resilience import errors
from resilience.dlq.alerts import Alerter
from resilience.dlq.api import DLQState, router
from resilience.dlq.db import make_engine, migrate
from resilience.dlq.discovery import ServiceResolver
from resilience.dlq.guard import RequestGuard
from resilience.dlq.metrics import DLQMetrics
from resilience.dlq.settings import Settings
from resilience.dlq.store import Store
from resilience.dlq.worker import RedeliveryWorker
from resilience.middleware import add_error_handlers

__all__ = ["create_app"]

logger = logging.getLogger("resilience.dlq")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the DLQ service; ``settings`` default to :meth:`Settings.from_env`."""
    settings = settings or Settings.from_env()
    if settings.api_key is None:
        logger.warning("DLQ_API_KEY is not set: the DLQ API is open to anyone who can reach it")
    engine = make_engine(settings.database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
    store = Store(engine)
    metrics = DLQMetrics(store)
    state = DLQState(settings=settings, store=store, metrics=metrics)
    # Driver errors mean the database is unreachable or overloaded: 503, retryable.
    errors.register_error(
        "sqlalchemy.exc.OperationalError", code="DATABASE_UNAVAILABLE", status=503, retryable=True
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_startup:
            migrate(engine)
        async with httpx.AsyncClient(follow_redirects=False) as http:
            if settings.worker_enabled:
                state.worker = RedeliveryWorker(
                    store,
                    settings,
                    http=http,
                    resolver=ServiceResolver(
                        settings.service_map,
                        settings.registry_url,
                        http=http,
                        cache_seconds=settings.registry_cache_seconds,
                    ),
                    metrics=metrics,
                    alerter=Alerter(
                        settings, http=http, on_alert=lambda a: metrics.alerts.labels(kind=a.kind).inc()
                    ),
                )
                state.worker.start()
            try:
                yield
            finally:
                if state.worker is not None:
                    await state.worker.stop()
                    state.worker = None
        engine.dispose()

    app = FastAPI(
        title="Dead Letter Queue",
        summary="Captures messages that could not be processed; inspect, redrive and resolve them.",
        lifespan=lifespan,
    )
    app.state.dlq = state
    app.include_router(router)
    add_error_handlers(app)
    # Appended after the error middleware, so it runs inside it and its errors get the envelope.
    app.user_middleware.append(
        Middleware(RequestGuard, api_key=settings.api_key, max_body_bytes=settings.max_body_bytes)
    )
    return app
