"""A typed, synchronous client for the Toxiproxy v2 HTTP API (real server or the embedded one).

Errors::

    Exception
     └── ToxiproxyError            status (int, or None when nothing answered), message
          ├── BadRequest           400: a body, stream, type or attribute the server refused
          ├── ProxyNotFound        404 "proxy not found"
          ├── ToxicNotFound        404 "toxic not found"
          ├── AlreadyExists        409: proxy or toxic name taken
          └── ToxiproxyUnavailable no answer at all (refused, timed out, reset)

Every error carries Toxiproxy's own message (``{"error": ..., "status": ...}``), so a bind failure reads
``listen tcp 127.0.0.1:21001: bind: address already in use`` rather than a bare status code.

The client talks through an ``httpx`` transport: the default one is real HTTP, and tests or in-process
servers may pass any ``httpx.BaseTransport`` (``httpx.MockTransport`` is the fake for unit tests).
"""

from __future__ import annotations

import contextlib
import dataclasses
import http
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from harness.toxiproxy.defaults import DEFAULT_URL

__all__ = [
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "AlreadyExists",
    "BadRequest",
    "Proxy",
    "ProxyNotFound",
    "Toxic",
    "ToxicNotFound",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyUnavailable",
]

DEFAULT_TIMEOUT = 5.0  # seconds, per request (connect, read and write each)


class ToxiproxyError(Exception):
    """An API call failed; ``status`` is the HTTP status (None if nothing answered)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return self.message if self.status is None else f"HTTP {self.status}: {self.message}"


class BadRequest(ToxiproxyError):
    """400: Toxiproxy refused the request's content."""


class ProxyNotFound(ToxiproxyError):
    """404: no proxy by that name."""


class ToxicNotFound(ToxiproxyError):
    """404: the proxy has no toxic by that name."""


class AlreadyExists(ToxiproxyError):
    """409: a proxy or toxic with that name already exists."""


class ToxiproxyUnavailable(ToxiproxyError):
    """Nothing answered at the API address (connection refused, timeout, reset)."""


_ERROR_BY_MESSAGE: dict[str, type[ToxiproxyError]] = {
    "proxy not found": ProxyNotFound,
    "toxic not found": ToxicNotFound,
}
_ERROR_BY_STATUS: dict[int, type[ToxiproxyError]] = {400: BadRequest, 409: AlreadyExists}


def _error_from_response(response: httpx.Response) -> ToxiproxyError:
    """Build the most specific error from Toxiproxy's body, falling back to the status phrase."""
    text = response.text.strip()
    message = text
    with contextlib.suppress(ValueError):
        body = json.loads(text)
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            message = body["error"]
    if not message:
        message = http.HTTPStatus(response.status_code).phrase
    status = response.status_code
    cls = _ERROR_BY_MESSAGE.get(message) if status == 404 else _ERROR_BY_STATUS.get(status)
    return (cls or ToxiproxyError)(status, message)


def _wire_int(key: str, value: object) -> int:
    """Toxic attributes are Go integers: the server rejects ``100.0``, so whole floats become ints."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"toxic attribute {key!r} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(
                f"toxic attribute {key!r} must be a whole number (Toxiproxy rejects fractions), got {value!r}"
            )
        return int(value)
    return value


def _toxicity(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"toxicity must be a number between 0 and 1, got {value!r}")
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"toxicity must be between 0 and 1, got {value!r}")
    return float(value)


def _segment(name: str) -> str:
    """One URL path segment: ``a b`` and ``a/b`` must not change the route."""
    return quote(name, safe="")


@dataclasses.dataclass(frozen=True)
class Toxic:
    """A toxic as the server reported it; ``attributes`` lists every attribute of its type."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, int]

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Toxic:
        return cls(
            name=data["name"],
            type=data["type"],
            stream=data["stream"],
            toxicity=float(data["toxicity"]),
            attributes=dict(data.get("attributes") or {}),
        )


@dataclasses.dataclass(eq=False)
class Proxy:
    """A handle on one proxy; its fields are refreshed by every call that returns the proxy.

    ``listen`` is the bound address once the proxy runs (``127.0.0.1:0`` becomes a real port).
    """

    name: str
    listen: str
    upstream: str
    enabled: bool
    _client: ToxiproxyClient = dataclasses.field(repr=False)

    @property
    def host(self) -> str:
        return self.listen.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def _path(self) -> str:
        return f"/proxies/{_segment(self.name)}"

    def _apply(self, data: Mapping[str, Any]) -> Proxy:
        self.listen, self.upstream, self.enabled = data["listen"], data["upstream"], data["enabled"]
        return self

    def refresh(self) -> Proxy:
        """Reload listen, upstream and enabled from the server."""
        return self._apply(self._client._call("GET", self._path))

    def toxics(self) -> list[Toxic]:
        """All toxics: upstream ones in the order added, then downstream ones in the order added."""
        return [Toxic.from_wire(t) for t in self._client._call("GET", f"{self._path}/toxics")]

    def add_toxic(
        self,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: float,
    ) -> Toxic:
        """Add a toxic, applied at once to open connections too; ``name`` defaults to ``<type>_<stream>``.

        Attributes are integers (units per type: ms for latency, KB/s for bandwidth rate, ...).
        """
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": _toxicity(toxicity),
            "attributes": {k: _wire_int(k, v) for k, v in attributes.items()},
        }
        if name is not None:
            body["name"] = name
        return Toxic.from_wire(self._client._call("POST", f"{self._path}/toxics", body))

    def update_toxic(self, name: str, *, toxicity: float | None = None, **attributes: float) -> Toxic:
        """Change some attributes (merged into the current ones) and/or the toxicity."""
        body: dict[str, Any] = {"attributes": {k: _wire_int(k, v) for k, v in attributes.items()}}
        if toxicity is not None:
            body["toxicity"] = _toxicity(toxicity)
        return Toxic.from_wire(self._client._call("PATCH", f"{self._path}/toxics/{_segment(name)}", body))

    def remove_toxic(self, name: str) -> None:
        """Remove a toxic; data it holds is passed on, and removing a ``timeout`` closes its connections."""
        self._client._call("DELETE", f"{self._path}/toxics/{_segment(name)}")

    def enable(self) -> Proxy:
        """Listen again (the same port it had, unless it was never bound)."""
        return self._apply(self._client._call("PATCH", self._path, {"enabled": True}))

    def disable(self) -> Proxy:
        """Stop listening and close every open connection: new connects are refused."""
        return self._apply(self._client._call("PATCH", self._path, {"enabled": False}))

    def update(self, listen: str | None = None, upstream: str | None = None) -> Proxy:
        """Move the proxy; a real change closes its open connections (toxics are kept)."""
        body = {k: v for k, v in (("listen", listen), ("upstream", upstream)) if v is not None}
        return self._apply(self._client._call("PATCH", self._path, body))

    def delete(self) -> None:
        """Delete the proxy, closing its listener and connections."""
        self._client._call("DELETE", self._path)

    @contextlib.contextmanager
    def toxic(
        self,
        type: str,
        *,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        **attributes: float,
    ) -> Iterator[Toxic]:
        """Apply a toxic for the block and always remove it, even if the block raises.

        A toxic (or proxy) already gone when the block ends, e.g. after a reset, is not an error.
        """
        added = self.add_toxic(type, name=name, stream=stream, toxicity=toxicity, **attributes)
        try:
            yield added
        finally:
            with contextlib.suppress(ToxicNotFound, ProxyNotFound):
                self.remove_toxic(added.name)

    @contextlib.contextmanager
    def down(self) -> Iterator[Proxy]:
        """Take the proxy down (connects refused) for the block, then always enable it again."""
        self.disable()
        try:
            yield self
        finally:
            with contextlib.suppress(ProxyNotFound):
                self.enable()


class ToxiproxyClient:
    """Client for one Toxiproxy API at ``url``; ``timeout`` (seconds) applies to each request."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url if "://" in url else f"http://{url}").rstrip("/")
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            transport=transport,
            trust_env=False,  # an HTTP(S)_PROXY from the environment must not capture a loopback API
            headers={"User-Agent": "harness-toxiproxy-client"},
        )

    def __repr__(self) -> str:
        return f"ToxiproxyClient({self.url!r})"

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, body: object = None) -> httpx.Response:
        content = None if body is None else json.dumps(body).encode()
        try:
            response = self._http.request(method, path, content=content)
        except httpx.TransportError as exc:
            raise ToxiproxyUnavailable(
                None, f"cannot reach Toxiproxy at {self.url}: {exc or type(exc).__name__}"
            ) from exc
        if response.is_success:
            return response
        raise _error_from_response(response)

    def _call(self, method: str, path: str, body: object = None) -> Any:
        """One request; the decoded JSON body, or None for an empty (204) answer."""
        response = self._send(method, path, body)
        return response.json() if response.content else None

    def version(self) -> str:
        """The server's version ("git" for dev builds); JSON since 2.7, plain text up to 2.5."""
        text = self._send("GET", "/version").text.strip()
        text = text.removesuffix("\\n")  # 2.6.0 sent a literal backslash-n after the JSON
        with contextlib.suppress(ValueError):
            body = json.loads(text)
            version = body.get("version") if isinstance(body, dict) else None
            if isinstance(version, str):
                return version
        return text

    def is_running(self) -> bool:
        """Whether a Toxiproxy answers at ``url``."""
        try:
            self.version()
        except ToxiproxyError:
            return False
        return True

    def _proxy(self, data: Mapping[str, Any]) -> Proxy:
        return Proxy(data["name"], data["listen"], data["upstream"], data["enabled"], self)

    def proxies(self) -> dict[str, Proxy]:
        """Every proxy, by name (sorted by name)."""
        return {name: self._proxy(data) for name, data in self._call("GET", "/proxies").items()}

    def get_proxy(self, name: str) -> Proxy:
        return self._proxy(self._call("GET", f"/proxies/{_segment(name)}"))

    def create_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> Proxy:
        """Create and (if enabled) start a proxy; port 0 in ``listen`` binds a free port (``Proxy.port``)."""
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}
        return self._proxy(self._call("POST", "/proxies", body))

    def populate(self, proxies: Iterable[Mapping[str, Any]]) -> list[Proxy]:
        """Create or replace proxies in one call (keys: name, upstream, listen, enabled).

        A missing ``listen`` means ``127.0.0.1:0`` (the server alone would bind every interface).
        An existing proxy with the same listen and upstream is kept as it is (toxics, connections and
        enabled state); a different one is replaced by a fresh proxy without toxics. Nothing is deleted.
        """
        body = self._call("POST", "/populate", [{"listen": "127.0.0.1:0", **p} for p in proxies])
        return [self._proxy(p) for p in body.get("proxies") or []]

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (connections held by a ``timeout`` toxic close)."""
        self._call("POST", "/reset")
