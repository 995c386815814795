"""Build a stub: a FastAPI app with its service routes, the fault middleware and the admin API.

Admin API (never faulted, never recorded)::

    GET    /_admin/behaviour     current behaviour, elapsed seconds, active schedule step
    PUT    /_admin/behaviour     set a behaviour (JSON, see stubs.behaviour); 422 names what is wrong
    DELETE /_admin/behaviour     back to healthy
    GET    /_admin/requests      counts per route and the latest records (?route=...&limit=N)
    POST   /_admin/reset         healthy, records cleared, service state back to its start
    GET    /health               {"status": "healthy", "service": name}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.routing import Match
from starlette.types import Scope

from stubs._faults import FaultEngine
from stubs._middleware import FaultMiddleware
from stubs.behaviour import Behaviour
from stubs.recorder import DEFAULT_CAPACITY, RequestRecorder

__all__ = ["create_stub_app", "validation_message"]


def validation_message(error: ValidationError) -> str:
    """One line per problem, each naming the field: ``error_rate: Input should be ... (got 2)``."""
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        got = f" (got {item['input']!r})" if item["type"] not in ("missing", "json_invalid") else ""
        parts.append(f"{where}: {item['msg']}{got}")
    return "; ".join(parts)


class _RequestsQuery(BaseModel):
    """The query of ``GET /_admin/requests``; other parameters are ignored, as FastAPI would."""

    model_config = ConfigDict(extra="ignore")

    route: str | None = None
    limit: int | None = Field(default=None, ge=0, le=100_000)


def _error(status: int, code: str, message: str) -> JSONResponse:
    """The stubs' own error body: ``{"error": {"code": ..., "message": ...}}``."""
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _admin_router(
    service: str, engine: FaultEngine, recorder: RequestRecorder, on_reset: Callable[[], None] | None
) -> APIRouter:
    router = APIRouter(prefix="/_admin", include_in_schema=False)

    @router.get("/behaviour")
    async def get_behaviour() -> dict[str, Any]:
        return engine.describe()

    @router.put("/behaviour")
    async def put_behaviour(request: Request) -> Any:
        try:
            behaviour = Behaviour.model_validate_json(await request.body() or b"{}")
        except ValidationError as error:
            return _error(
                422, "INVALID_BEHAVIOUR", f"invalid behaviour for {service}: {validation_message(error)}"
            )
        engine.set(behaviour)
        return engine.describe()

    @router.delete("/behaviour")
    async def clear_behaviour() -> dict[str, Any]:
        engine.set(Behaviour())
        return engine.describe()

    @router.get("/requests")
    async def requests(request: Request) -> Any:
        # Validated here rather than by FastAPI, whose 422 body ({"detail": [...]}) is not the stubs' format.
        try:
            query = _RequestsQuery.model_validate(dict(request.query_params))
        except ValidationError as error:
            return _error(422, "INVALID_QUERY", f"invalid query for {service}: {validation_message(error)}")
        return recorder.snapshot(route=query.route, limit=query.limit)

    @router.post("/reset")
    async def reset() -> dict[str, str]:
        engine.set(Behaviour())
        recorder.reset()
        if on_reset is not None:
            on_reset()
        return {"status": "reset", "service": service}

    return router


def create_stub_app(
    service: str,
    *,
    on_reset: Callable[[], None] | None = None,
    capacity: int = DEFAULT_CAPACITY,
) -> FastAPI:
    """A stub named ``service``; ``on_reset`` restores its own state on ``POST /_admin/reset``.

    Add the service routes on the returned app itself (``@app.get(...)``), not through an included
    router: the recorder names each request by the template of the app route it matches.
    The engine and recorder are on ``app.state.engine`` / ``app.state.recorder``.
    """
    app = FastAPI(title=service, docs_url=None, redoc_url=None)
    engine = FaultEngine()
    recorder = RequestRecorder(capacity)
    app.state.engine = engine
    app.state.recorder = recorder
    app.include_router(_admin_router(service, engine, recorder, on_reset))

    @app.get("/health", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "healthy", "service": service}

    def route_of(scope: Scope) -> str:
        for route in app.router.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(getattr(route, "path", "unmatched"))
        return "unmatched"

    app.add_middleware(FaultMiddleware, service=service, engine=engine, recorder=recorder, route_of=route_of)
    return app
