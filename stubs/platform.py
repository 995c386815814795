"""Start the whole stub platform: every upstream stub, the registry listing them, and optionally
the gateway in front of them.

::

    with Platform(gateway="process") as platform:  # free ports; platform.urls maps name -> base URL
        weather = platform.control("weather-service")
        weather.set_behaviour(error_rate=0.5, seed=1)
        httpx.get(platform.urls["gateway"] + "/forecast/north")

Each stub runs in its own :class:`~stubs.server.StubServer` thread. ``ports`` pins a port per
service (0 or absent: a free one). The gateway runs as a child process (``gateway="process"``:
what load tests need, so it never shares the GIL with the load generator) or in a thread of this
process (``gateway="thread"``: quicker to start, fine for functional tests).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI

from stubs.control import StubControl
from stubs.ports import DEFAULT_BASE_PORT, GATEWAY, PORT_OFFSETS, ports_from
from stubs.server import StubServer
from stubs.services import REGISTRY, UPSTREAMS, registry

if TYPE_CHECKING:
    from stubs.gateway.process import GatewayProcess

__all__ = ["DEFAULT_BASE_PORT", "GATEWAY", "PORT_OFFSETS", "Platform", "ports_from"]


class Platform:
    """The stub upstreams, the registry and (``gateway=...``) the gateway, on loopback.

    A context manager; stops everything on exit. ``gateway_config`` and ``dlq_url`` go to the gateway
    (see :func:`stubs.gateway.config.load_config`); its upstreams are the stubs started here.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        services: Iterable[str] | None = None,
        gateway: Literal["process", "thread"] | None = None,
        gateway_config: str | Path | None = None,
        dlq_url: str | None = None,
    ) -> None:
        names = list(UPSTREAMS if services is None else services)
        known = [*UPSTREAMS, REGISTRY, GATEWAY]
        unknown = sorted(set(names) - set(UPSTREAMS)) + sorted(set(ports or {}) - set(known))
        if unknown:
            raise ValueError(f"unknown service(s) {unknown}; known: {known}")
        if gateway not in (None, "process", "thread"):
            raise ValueError(f"gateway must be 'process', 'thread' or None, got {gateway!r}")
        self._gateway_mode = gateway
        self._gateway_config = gateway_config
        self._dlq_url = dlq_url
        self.gateway_process: GatewayProcess | None = None
        """The gateway's child process when ``gateway="process"`` (log path, exit code)."""
        self._gateway_server: StubServer | None = None
        self._gateway_url: str | None = None
        self.host = host
        self._ports = dict(ports or {})
        self._names = names
        self.servers: dict[str, StubServer] = {}
        self._controls: dict[str, StubControl] = {}

    @property
    def urls(self) -> dict[str, str]:
        """Base URL per service name: the gateway (when started), the stubs and the registry."""
        stubs = {name: server.url for name, server in self.servers.items()}
        return stubs if self._gateway_url is None else {GATEWAY: self._gateway_url, **stubs}

    def start(self) -> Platform:
        try:
            for name in self._names:
                self._serve(name, UPSTREAMS[name]())
            initial = [
                registry.Registration(Name=name, Address=self.host, Port=server.port)
                for name, server in self.servers.items()
            ]
            self._serve(REGISTRY, registry.create_app(initial))
            if self._gateway_mode is not None:
                self._start_gateway(self._gateway_mode)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_gateway(self, mode: str) -> None:
        upstreams = {name: server.url for name, server in self.servers.items() if name != REGISTRY}
        port = self._ports.get(GATEWAY, 0)
        if mode == "process":
            from stubs.gateway.process import GatewayProcess

            process = GatewayProcess(
                config=self._gateway_config,
                upstreams=upstreams,
                dlq_url=self._dlq_url,
                host=self.host,
                port=port,
            )
            self.gateway_process = process.start()
            self._gateway_url = process.url
            return
        from stubs.gateway.app import create_app
        from stubs.gateway.config import load_config

        config = load_config(self._gateway_config, upstreams=upstreams, dlq_url=self._dlq_url)
        server = StubServer(create_app(config), host=self.host, port=port, name=GATEWAY)
        self._gateway_server = server.start()
        self._gateway_url = server.url

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
        """Stop the gateway first (it calls the stubs), then every stub; idempotent."""
        if self.gateway_process is not None:
            self.gateway_process.stop()
        if self._gateway_server is not None:
            self._gateway_server.stop()
        self._gateway_url = None
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
