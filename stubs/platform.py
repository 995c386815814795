"""Start the whole stub platform in-process: every upstream stub, then the registry listing them.

::

    with Platform() as platform:              # free ports; platform.urls maps name -> base URL
        weather = platform.control("weather-service")
        weather.set_behaviour(error_rate=0.5, seed=1)

Each stub runs in its own :class:`~stubs.server.StubServer` thread. ``ports`` pins a port per
service (0 or absent: a free one). The gateway is started apart (:mod:`stubs.gateway.process`)
because it must not share the GIL with a load generator.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import TracebackType

from fastapi import FastAPI

from stubs.control import StubControl
from stubs.server import StubServer
from stubs.services import REGISTRY, UPSTREAMS, registry

__all__ = ["DEFAULT_BASE_PORT", "GATEWAY", "PORT_OFFSETS", "Platform", "ports_from"]

GATEWAY = "gateway"
DEFAULT_BASE_PORT = 18080
PORT_OFFSETS: dict[str, int] = {
    GATEWAY: 0,
    "user-service": 1,
    "weather-service": 2,
    "prediction-service": 3,
    "processing-service": 4,
    REGISTRY: 5,
}
"""Where ``harness stubs serve`` puts each service: base port + offset (18080 to 18085 by default)."""


def ports_from(base: int) -> dict[str, int]:
    """The fixed port of every service (gateway included) for a base port."""
    if not 1 <= base <= 65535 - max(PORT_OFFSETS.values()):
        raise ValueError(f"base port must be in 1..{65535 - max(PORT_OFFSETS.values())}, got {base}")
    return {name: base + offset for name, offset in PORT_OFFSETS.items()}


class Platform:
    """The stub upstreams and the registry, on loopback. A context manager; stops everything on exit."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        services: Iterable[str] | None = None,
    ) -> None:
        names = list(UPSTREAMS if services is None else services)
        unknown = sorted(set(names) - set(UPSTREAMS)) + sorted(set(ports or {}) - {*UPSTREAMS, REGISTRY})
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {[*UPSTREAMS, REGISTRY]}")
        self.host = host
        self._ports = dict(ports or {})
        self._names = names
        self.servers: dict[str, StubServer] = {}
        self._controls: dict[str, StubControl] = {}

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per service name, the registry included."""
        return {name: server.url for name, server in self.servers.items()}

    def start(self) -> Platform:
        try:
            for name in self._names:
                self._serve(name, UPSTREAMS[name]())
            initial = [
                registry.Registration(Name=name, Address=self.host, Port=server.port)
                for name, server in self.servers.items()
            ]
            self._serve(REGISTRY, registry.create_app(initial))
        except BaseException:
            self.stop()
            raise
        return self

    def _serve(self, name: str, app: FastAPI) -> None:
        server = StubServer(app, host=self.host, port=self._ports.get(name, 0), name=name)
        self.servers[name] = server.start()

    def control(self, name: str) -> StubControl:
        """The admin client of one stub (cached; closed with the platform)."""
        if name not in self.servers:
            raise KeyError(f"no stub {name!r} in this platform; running: {sorted(self.servers)}")
        if name not in self._controls:
            self._controls[name] = StubControl(self.servers[name].url)
        return self._controls[name]

    def reset(self) -> None:
        """Every stub healthy again, its records and state cleared."""
        for name in self.servers:
            self.control(name).reset()

    def stop(self) -> None:
        for control in self._controls.values():
            control.close()
        self._controls.clear()
        servers = list(self.servers.values())
        for server in servers:
            server.request_stop()  # all at once: in-flight delays end together, not one after another
        for server in servers:
            server.stop()

    def __enter__(self) -> Platform:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
