"""Where to redeliver: a destination service's base URL from the static map or a Consul catalog.

The static map (``DLQ_SERVICE_MAP``) wins; otherwise ``GET {registry}/v1/catalog/service/{name}`` is
asked, as in the seed, and its entries are used round-robin (``ServiceAddress`` or, when empty, the
node's ``Address``, with ``ServicePort``). Catalog answers are cached for ``cache_seconds``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from resilience import errors

__all__ = ["ServiceNotFoundError", "ServiceResolver"]


class ServiceNotFoundError(errors.UpstreamUnavailableError):
    """Neither the static map nor the catalog knows the destination service (a delivery failure)."""

    code = "SERVICE_NOT_FOUND"


class ServiceResolver:
    def __init__(
        self,
        service_map: Mapping[str, str],
        registry_url: str | None,
        *,
        http: httpx.AsyncClient,
        cache_seconds: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._static = dict(service_map)
        self._registry = registry_url.rstrip("/") if registry_url else None
        self._http = http
        self._ttl = cache_seconds
        self._monotonic = monotonic
        self._cache: dict[str, tuple[float, list[str], itertools.cycle[str]]] = {}

    async def resolve(self, service: str) -> str:
        """The base URL (no trailing slash) to deliver ``service``'s messages to."""
        static = self._static.get(service)
        if static is not None:
            return static
        if self._registry is None:
            raise ServiceNotFoundError(
                f"no route to service {service!r}: not in DLQ_SERVICE_MAP and DLQ_REGISTRY_URL is unset"
            )
        now = self._monotonic()
        cached = self._cache.get(service)
        if cached is None or now - cached[0] > self._ttl:
            urls = await self._lookup(service)
            cached = (now, urls, itertools.cycle(urls))
            self._cache[service] = cached
        return next(cached[2])

    async def _lookup(self, service: str) -> list[str]:
        url = f"{self._registry}/v1/catalog/service/{quote(service, safe='')}"
        try:
            response = await self._http.get(url)
            response.raise_for_status()
            entries = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceNotFoundError(f"service registry lookup for {service!r} failed: {exc}") from exc
        urls = [u for u in (_entry_url(e) for e in entries if isinstance(entries, list)) if u]
        if not urls:
            raise ServiceNotFoundError(f"service registry has no instance of {service!r}")
        return urls


def _entry_url(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return None
    host = entry.get("ServiceAddress") or entry.get("Address")
    port = entry.get("ServicePort")
    if not isinstance(host, str) or not host or not isinstance(port, int) or not 0 < port < 65536:
        return None
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"
