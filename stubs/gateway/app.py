"""The gateway: the system under test, an ordinary user of ``resilience``.

=======  ==================================  ===============================================
method   path                                what
=======  ==================================  ===============================================
GET      /forecast/{region}                  weather + prediction, fetched concurrently
GET      /users/{user_id}                    a user profile
POST     /jobs                               submit to processing-service; on final failure
                                             dead-letter once and answer 202
GET      /health                             liveness, with every breaker's state
GET      /resilience/breakers                every breaker's state and counters
POST     /resilience/breakers/{name}/{op}    ``open`` (force open), ``close`` (force closed),
                                             ``reset`` (back to automatic, counters cleared)
GET      /metrics                            Prometheus text
=======  ==================================  ===============================================

A response built from a fallback carries ``"degraded": true``, ``"fallbacks": {upstream:
strategy}`` and the header ``X-Fallback: upstream=strategy[, ...]`` (strategies:
``last_known_good``, ``default``, ``dead_letter``). Errors use the library's standard envelope.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resilience.dlq.client import DLQClient, DLQRejectedError
from resilience.dlq.guard import JSONBodyGuard
from resilience.errors import (
    CircuitBreakerError,
    NotFoundError,
    RetryBudgetExhaustedError,
    RetryError,
    UpstreamUnavailableError,
)
from resilience.fallback import fallback_info
from resilience.instrumentation import fallback as fallback_metrics
from resilience.instrumentation import retry as retry_metrics
from resilience.middleware import add_error_handlers, get_request_id
from resilience.policy import Policy
from stubs.gateway._policy import STRATEGY_LABELS, build_policies
from stubs.gateway.config import ConfigError, GatewayConfig
from stubs.gateway.upstreams import UPSTREAM_FAILURES, UpstreamClient

__all__ = ["FALLBACK_HEADER", "create_app"]

FALLBACK_HEADER = "X-Fallback"
HTTP_BACKSTOP_TIMEOUT = 30.0
"""httpx's per-operation timeout for an upstream whose policy has no per-attempt timeout."""
_JOB_FAILURES: tuple[type[BaseException], ...] = (
    *UPSTREAM_FAILURES,
    RetryError,
    RetryBudgetExhaustedError,
    CircuitBreakerError,
)
"""Final outcomes of a job submission that mean "processing is unwell": dead-letter the job."""
_NAME = r"^[A-Za-z0-9_.-]{1,64}$"
_STATE_VALUES = {"CLOSED": 0, "OPEN": 1, "HALF_OPEN": 2, "FORCED_OPEN": 3, "DISABLED": 4, "METRICS_ONLY": 5}


class _NoSuchBreakerError(NotFoundError):
    expose_message = True


class _JobNotQueuedError(UpstreamUnavailableError):
    """Processing failed and the DLQ refused the job (wrong API key, too large...): the gateway's
    fault or the DLQ's, never the caller's, so 502 and not the DLQ's own 4xx."""

    code = "JOB_NOT_QUEUED"
    retryable = False
    expose_message = True


class JobIn(BaseModel):
    """A job for the processing service; any other field is refused (400 naming it)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=64)
    region: str | None = Field(default=None, max_length=64)


class _Metrics:
    """The gateway's own series, in a registry per app so several gateways can share a process."""

    def __init__(self, policies: Mapping[str, Policy]) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_requests_total", "Requests answered, by route and status.", ["route", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "gateway_fallbacks_total", "Answers served from a fallback, by upstream and strategy.",
            ["upstream", "strategy"], registry=self.registry,
        )  # fmt: skip
        self.dead_letters = Counter(
            "gateway_dead_letters_total", "Jobs dead-lettered after their final attempt.", ["spooled"],
            registry=self.registry,
        )  # fmt: skip
        self.breaker_state = Gauge(
            "gateway_breaker_state",
            "Breaker state: 0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled, 5 metrics only.",
            ["breaker"], registry=self.registry,
        )  # fmt: skip
        self._policies = policies
        retry_metrics.register_prometheus(self.registry)
        fallback_metrics.register_prometheus(self.registry)

    def render(self) -> bytes:
        for name, policy in self._policies.items():
            self.breaker_state.labels(name).set(_STATE_VALUES.get(policy.breaker.state.value, -1))
        return bytes(generate_latest(self.registry))


class _CountRequests:
    """Pure ASGI: counts every answer by route template and final status (outside error handling)."""

    def __init__(self, app: ASGIApp, counter: Counter) -> None:
        self.app = app
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.counter.labels(route, str(status)).inc()


def _mark(response: Response, metrics: _Metrics, fallbacks: dict[str, str]) -> dict[str, Any]:
    """Fallback fields for a body, plus the header and the counter; empty ``fallbacks`` is live data."""
    if fallbacks:
        response.headers[FALLBACK_HEADER] = ", ".join(f"{u}={s}" for u, s in sorted(fallbacks.items()))
        for upstream, strategy in fallbacks.items():
            metrics.fallbacks.labels(upstream, strategy).inc()
    return {"degraded": bool(fallbacks), "fallbacks": fallbacks}


def _served_by(upstream: str, value: Any) -> dict[str, str]:
    info = fallback_info(value)
    return {} if info is None else {upstream: STRATEGY_LABELS.get(info.strategy, info.strategy)}


def create_app(config: GatewayConfig, *, environ: Mapping[str, str] | None = None) -> FastAPI:
    """Build the gateway for ``config`` (see :func:`stubs.gateway.config.load_config`).

    ``environ`` supplies ``RESILIENCE__<SERVICE>__<KEY>`` policy overrides (default: os.environ).
    Raises :class:`~stubs.gateway.config.ConfigError` for a policy section or a DLQ spool path it
    cannot use.
    """
    policies = build_policies(config, environ=environ)
    clients = {
        name: UpstreamClient(name, config.url(name), timeout=policy.timeout or HTTP_BACKSTOP_TIMEOUT)
        for name, policy in policies.items()
    }
    metrics = _Metrics(policies)
    try:
        dlq = (
            DLQClient(config.dlq.url, api_key=config.dlq.api_key, spool_path=config.dlq.spool_path)
            if config.dlq.url
            else None
        )
    except ValueError as error:  # an unusable spool path
        raise ConfigError(f"{config.source}: dlq.spool_path: {error}") from None

    def getter(name: str) -> Callable[[str], Awaitable[Any]]:
        async def get(path: str) -> Any:
            request_id = get_request_id()
            return await clients[name].request(
                "GET", path, headers={"X-Request-ID": request_id} if request_id else None
            )

        return policies[name](get)

    get_user = getter("user-service")
    get_weather = getter("weather-service")
    get_prediction = getter("prediction-service")

    async def _submit(job: dict[str, Any]) -> Any:
        headers = {"Idempotency-Key": str(job["job_id"])}
        if request_id := get_request_id():
            headers["X-Request-ID"] = request_id
        return await clients["processing-service"].request("POST", "/messages", json=job, headers=headers)

    submit = policies["processing-service"](_submit)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for client in clients.values():
            await client.aclose()
        if dlq is not None:
            dlq.close()

    app = FastAPI(title="Fluxora gateway (system under test)", lifespan=lifespan)
    add_error_handlers(app)
    app.state.policies = policies
    app.state.metrics = metrics

    app.add_middleware(_CountRequests, counter=metrics.requests)
    # Inside the error middleware (appended = innermost): a non-JSON body is a 415 in the envelope
    # naming the header to send, instead of FastAPI's "Must be an object" for curl's form encoding;
    # a body over config.max_body_bytes is a 413, refused before it is read in full.
    app.user_middleware.append(Middleware(JSONBodyGuard, max_body_bytes=config.max_body_bytes))

    @app.get("/forecast/{region}")
    async def forecast(region: Annotated[str, Path(pattern=_NAME)], response: Response) -> dict[str, Any]:
        weather, prediction = await asyncio.gather(
            get_weather(f"/weather/{region}"), get_prediction(f"/predictions/{region}")
        )
        fallbacks = {**_served_by("weather-service", weather), **_served_by("prediction-service", prediction)}
        return {
            "region": region,
            "weather": dict(weather),
            "prediction": dict(prediction),
            **_mark(response, metrics, fallbacks),
        }

    @app.get("/users/{user_id}")
    async def user(user_id: Annotated[str, Path(pattern=_NAME)], response: Response) -> dict[str, Any]:
        profile = await get_user(f"/users/{user_id}")
        fallbacks = _served_by("user-service", profile)
        body = {**profile, "user_id": user_id} if fallbacks else dict(profile)
        return {**body, **_mark(response, metrics, fallbacks)}

    @app.post("/jobs")
    async def submit_job(job: JobIn, response: Response) -> dict[str, Any]:
        payload = {**job.model_dump(), "job_id": str(uuid.uuid4()), "submitted_at": time.time()}
        try:
            await submit(payload)
        except _JOB_FAILURES as error:
            if dlq is None:
                raise
            try:
                sent = await dlq.asend(
                    payload,
                    str(error),
                    source_queue="gateway-jobs",
                    destination_service="processing-service",
                    error_type=type(error).__name__,
                    idempotency_key=payload["job_id"],
                )
            except DLQRejectedError as rejected:
                raise _JobNotQueuedError(
                    f"processing failed and the dead-letter queue refused job {payload['job_id']} "
                    f"(HTTP {rejected.status_code}); the job was not queued"
                ) from rejected
            metrics.dead_letters.labels(str(sent.spooled).lower()).inc()
            response.status_code = 202
            return {
                "job_id": payload["job_id"],
                "status": "queued for retry",
                "dead_lettered": True,
                "dlq_message_id": sent.message_id,
                "spooled": sent.spooled,
                **_mark(response, metrics, {"processing-service": "dead_letter"}),
            }
        return {"job_id": payload["job_id"], "status": "processed", "dead_lettered": False, "degraded": False}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        states = {name: policy.breaker.state.value for name, policy in policies.items()}
        return {"status": "ok" if set(states.values()) <= {"CLOSED"} else "degraded", "breakers": states}

    @app.get("/resilience/breakers")
    async def breakers() -> dict[str, Any]:
        return {"breakers": {name: policy.breaker.get_state() for name, policy in policies.items()}}

    @app.post("/resilience/breakers/{name}/{operation}")
    async def override(name: str, operation: Literal["open", "close", "reset"]) -> dict[str, Any]:
        policy = policies.get(name)
        if policy is None:
            raise _NoSuchBreakerError(f"no breaker named {name!r}; known: {', '.join(sorted(policies))}")
        {
            "open": policy.breaker.force_open,
            "close": policy.breaker.force_closed,
            "reset": policy.breaker.reset,
        }[operation]()
        return policy.breaker.get_state()

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app
