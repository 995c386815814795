"""service-registry: the part of Consul's HTTP API the platform uses, in memory.

``GET /v1/catalog/service/{name}`` lists instances as Consul does (``ServiceName``,
``ServiceAddress``, ``ServicePort``, ...); ``PUT /v1/agent/service/register`` and
``PUT /v1/agent/service/deregister/{id}`` change it at run time. ``POST /_admin/reset`` restores
the instances the app was created with.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stubs._app import create_stub_app, validation_message

__all__ = ["Registration", "create_app"]

NODE = "stub-node"
DATACENTER = "dc1"


class Registration(BaseModel):
    """Body of ``PUT /v1/agent/service/register`` (Consul's field names); ``ID`` defaults to ``Name``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    Name: str = Field(min_length=1)
    ID: str | None = None
    Address: str = "127.0.0.1"
    Port: int = Field(ge=1, le=65535)
    Tags: list[str] = Field(default_factory=list)
    Meta: dict[str, str] = Field(default_factory=dict)

    @property
    def service_id(self) -> str:
        return self.ID or self.Name

    def catalog_entry(self) -> dict[str, Any]:
        return {
            "ID": NODE,
            "Node": NODE,
            "Address": "127.0.0.1",
            "Datacenter": DATACENTER,
            "ServiceID": self.service_id,
            "ServiceName": self.Name,
            "ServiceAddress": self.Address,
            "ServicePort": self.Port,
            "ServiceTags": self.Tags,
            "ServiceMeta": self.Meta,
        }


def create_app(initial: Iterable[Registration] = ()) -> FastAPI:
    baseline = {r.service_id: r for r in initial}
    instances: dict[str, Registration] = dict(baseline)

    def reset() -> None:
        instances.clear()
        instances.update(baseline)

    app = create_stub_app("service-registry", on_reset=reset)

    @app.get("/v1/catalog/services")
    async def services() -> dict[str, list[str]]:
        names: dict[str, list[str]] = {}
        for r in instances.values():
            names.setdefault(r.Name, [])
            names[r.Name].extend(t for t in r.Tags if t not in names[r.Name])
        return names

    @app.get("/v1/catalog/service/{name}")
    async def service(name: str) -> list[dict[str, Any]]:
        return [r.catalog_entry() for r in instances.values() if r.Name == name]

    @app.put("/v1/agent/service/register")
    async def register(request: Request) -> Any:
        try:
            registration = Registration.model_validate_json(await request.body() or b"{}")
        except ValidationError as error:
            return JSONResponse(
                status_code=400,
                content={"error": {"code": "INVALID_REGISTRATION", "message": validation_message(error)}},
            )
        instances[registration.service_id] = registration
        return PlainTextResponse("")

    @app.put("/v1/agent/service/deregister/{service_id}")
    async def deregister(service_id: str) -> Any:
        if instances.pop(service_id, None) is None:
            return PlainTextResponse(f'Unknown service ID "{service_id}"', status_code=404)
        return PlainTextResponse("")

    return app
