"""Toxiproxy's HTTP API (spec §4): the route table, the handlers, and the wire shapes.

Handlers take a parsed :class:`Request` and return a :class:`Response`; the HTTP/1.1 plumbing lives in
:mod:`.server`. Errors are :class:`~.errors.ApiError` values from the catalogue in :mod:`.errors`, written as
``{"error":MSG,"status":CODE}`` plus a newline, ``text/plain; charset=utf-8`` (``/populate`` differs, as in
Toxiproxy). Deliberate difference: toxic attributes the real server crashes on (a negative bandwidth rate,
slicer sizes that never stop splitting) are refused with a 400 in the same shape.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import os
import re
import struct
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import errors, gojson
from .collection import ToxicWrapper
from .errors import ApiError
from .gojson import Field, Float32
from .proxy import Proxy
from .stream import Direction
from .toxics import InvalidAttribute, Toxic

VERSION = "2.12.0"

# (method, path pattern, handler name): the whole API at a glance, as Toxiproxy's ``Routes()``.
ROUTES: tuple[tuple[str, str, str], ...] = (
    ("POST", "/reset", "reset"),
    ("GET", "/proxies", "proxy_index"),
    ("POST", "/proxies", "proxy_create"),
    ("POST", "/populate", "populate"),
    ("GET", "/proxies/{proxy}", "proxy_show"),
    ("POST", "/proxies/{proxy}", "proxy_update"),
    ("PATCH", "/proxies/{proxy}", "proxy_update"),
    ("DELETE", "/proxies/{proxy}", "proxy_delete"),
    ("GET", "/proxies/{proxy}/toxics", "toxic_index"),
    ("POST", "/proxies/{proxy}/toxics", "toxic_create"),
    ("GET", "/proxies/{proxy}/toxics/{toxic}", "toxic_show"),
    ("POST", "/proxies/{proxy}/toxics/{toxic}", "toxic_update"),
    ("PATCH", "/proxies/{proxy}/toxics/{toxic}", "toxic_update"),
    ("DELETE", "/proxies/{proxy}/toxics/{toxic}", "toxic_delete"),
    ("GET", "/version", "version"),
)

PROXY_FIELDS = [
    Field("name", "string"),
    Field("listen", "string"),
    Field("upstream", "string"),
    Field("enabled", "bool"),
]
# populate decodes into struct { Proxy; Enabled *bool }: ``enabled`` belongs to the outer struct
POPULATE_FIELDS = [*PROXY_FIELDS[:3], Field("enabled", "bool", where="")]
TOXIC_FIELDS = [
    Field("attributes", "toxics.NoopToxic"),
    Field("name", "string"),
    Field("type", "string"),
    Field("stream", "string"),
    Field("toxicity", "float32"),
]
POPULATE_ITEM = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
UPDATE_STRUCT = (
    'struct { Attributes interface {} "json:\\"attributes\\""; Toxicity float32 "json:\\"toxicity\\"" }'
)
JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass
class Request:
    method: str
    path: str  # percent-decoded
    headers: dict[str, str]  # lower-case names
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error_response(error: ApiError) -> Response:
    """Go's ``http.Error`` with Toxiproxy's JSON body: text/plain, nosniff, trailing newline."""
    body = gojson.dumps({"error": error.message, "status": error.status}) + b"\n"
    return Response(error.status, body, TEXT, {"X-Content-Type-Options": "nosniff"})


def not_found() -> Response:
    return Response(404, b"404 page not found\n", TEXT, {"X-Content-Type-Options": "nosniff"})


class _RequestIds:
    """20-character xids (base32hex of time, machine, pid, counter), like Toxiproxy's request ids."""

    def __init__(self) -> None:
        self._machine = os.urandom(3)
        self._pid = struct.pack(">H", os.getpid() & 0xFFFF)
        self._counter = int.from_bytes(os.urandom(3), "big")
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._counter = (self._counter + 1) & 0xFFFFFF
            counter = self._counter
        raw = (
            struct.pack(">I", int(time.time()) & 0xFFFFFFFF)
            + self._machine
            + self._pid
            + counter.to_bytes(3, "big")
        )
        return base64.b32hexencode(raw).decode("ascii").rstrip("=").lower()


REQUEST_IDS = _RequestIds()


def toxic_json(wrapper: ToxicWrapper) -> dict[str, Any]:
    """A toxic's wire shape, keys in Toxiproxy's order (spec §3.2)."""
    return {
        "attributes": attributes_of(wrapper.toxic),
        "name": wrapper.name,
        "type": wrapper.type,
        "stream": wrapper.stream,
        "toxicity": Float32(wrapper.toxicity),
    }


def proxy_json(proxy: Proxy) -> dict[str, Any]:
    """A proxy's wire shape, keys in Toxiproxy's order (spec §3.1), stray ``Logger`` key included."""
    return {
        "name": proxy.name,
        "listen": proxy.listen,
        "upstream": proxy.upstream,
        "enabled": proxy.enabled,
        "Logger": {},
        "toxics": [toxic_json(wrapper) for wrapper in proxy.toxics.toxics()],
    }


def attributes_of(toxic: Toxic) -> dict[str, int]:
    return {f.name: getattr(toxic, f.name) for f in dataclasses.fields(toxic)}  # type: ignore[arg-type]


def _parse(body: bytes) -> Any:
    try:
        return gojson.parse(body)
    except gojson.GoJSONError as exc:
        raise errors.BAD_REQUEST_BODY.joined(str(exc)) from None


def _decode(value: Any, fields: list[Field], where: str, go_value: str) -> dict[str, Any]:
    decoded, problem = gojson.decode_object(value, fields, where, go_value)
    if problem is not None:
        raise errors.BAD_REQUEST_BODY.joined(problem)
    return decoded


def _last(value: Any, key: str) -> Any:
    """The value of the last key matching ``key`` case-insensitively (None if absent)."""
    found = None
    if isinstance(value, dict):
        for name, item in value.items():
            if name.lower() == key and item is not None:
                found = item
    return found


def _first_key(value: Any, keys: tuple[str, ...]) -> str | None:
    """Which of ``keys`` (lower case) comes first in the object ``value``, matched case-insensitively."""
    if not isinstance(value, dict):
        return None
    return next((name.lower() for name in value if name.lower() in keys), None)


def _attribute_fields(cls: type[Toxic]) -> list[Field]:
    return [Field(f.name, f.metadata["go_type"]) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]


def _build(cls: type[Toxic], values: dict[str, Any]) -> Toxic:
    try:
        return cls(**values)
    except InvalidAttribute as exc:
        raise errors.invalid_attribute(str(exc)) from None


def _json(status: int, value: Any) -> Response:
    return Response(status, gojson.dumps(value), JSON)


Handler = Callable[[Request, dict[str, str]], Awaitable[Response]]


class Api:
    """The proxies of one server and the handlers that serve the HTTP API over them."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self.proxies: dict[str, Proxy] = {}
        self._lock = asyncio.Lock()  # one change to the proxy table at a time, as Toxiproxy's mutex
        self._routes = [(method, _compile(pattern), getattr(self, name)) for method, pattern, name in ROUTES]

    async def handle(self, request: Request) -> Response:
        """Route ``request``: 404 if no path matches, 405 if only the method differs, else the handler."""
        path_matched = False
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            path_matched = True
            if method != request.method:
                continue
            response = await self._run(handler, request, match.groupdict())
            response.headers["X-Toxiproxy-Request-Id"] = REQUEST_IDS.next()
            return response
        if path_matched:
            return Response(405, headers={} if request.method == "HEAD" else {"Content-Length": "0"})
        return not_found()

    async def _run(self, handler: Handler, request: Request, params: dict[str, str]) -> Response:
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            return Response(403, b"User agent not allowed\n", TEXT, {"X-Content-Type-Options": "nosniff"})
        try:
            return await handler(request, params)
        except ApiError as exc:
            return error_response(exc)
        except Exception as exc:  # Toxiproxy answers 500 with the error text for anything unexpected
            traceback.print_exc(file=sys.stderr)
            return error_response(ApiError(str(exc) or type(exc).__name__, 500))

    def _proxy(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise errors.PROXY_NOT_FOUND
        return proxy

    # -- proxies -------------------------------------------------------------------------------------------

    async def proxy_index(self, request: Request, params: dict[str, str]) -> Response:
        return _json(200, {name: proxy_json(self.proxies[name]) for name in sorted(self.proxies)})

    async def proxy_create(self, request: Request, params: dict[str, str]) -> Response:
        given = _decode(_parse(request.body), PROXY_FIELDS, "Proxy", "toxiproxy.Proxy")
        name, upstream = given.get("name", ""), given.get("upstream", "")
        if not name:
            raise errors.MISSING_FIELD.joined("name")
        if not upstream:
            raise errors.MISSING_FIELD.joined("upstream")
        async with self._lock:
            if name in self.proxies:
                raise errors.PROXY_ALREADY_EXISTS
            proxy = Proxy(name, given.get("listen", ""), upstream, self.seed)
            if given.get("enabled", True):
                await proxy.start()
            self.proxies[name] = proxy
        return _json(201, proxy_json(proxy))

    async def proxy_show(self, request: Request, params: dict[str, str]) -> Response:
        return _json(200, proxy_json(self._proxy(params["proxy"])))

    async def proxy_update(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxy(params["proxy"])
        given = _decode(_parse(request.body), PROXY_FIELDS, "Proxy", "toxiproxy.Proxy")
        async with self._lock:
            await proxy.update(
                given.get("listen", proxy.listen),
                given.get("upstream", proxy.upstream),
                given.get("enabled", proxy.enabled),
            )
        return _json(200, proxy_json(proxy))

    async def proxy_delete(self, request: Request, params: dict[str, str]) -> Response:
        async with self._lock:
            proxy = self._proxy(params["proxy"])
            await proxy.stop()
            del self.proxies[proxy.name]
        return Response(204)

    async def populate(self, request: Request, params: dict[str, str]) -> Response:
        """Create or replace proxies from a JSON array (spec §9.1); errors here are application/json."""
        done: list[Proxy] = []
        try:
            await self.populate_from(request.body, done)
        except ApiError as exc:
            body = {
                "error": exc.message,
                "status": exc.status,
                "proxies": [proxy_json(p) for p in done] or None,
            }
            return _json(exc.status, body)
        return _json(201, {"proxies": [proxy_json(p) for p in done] or None})

    async def populate_from(self, body: bytes, done: list[Proxy]) -> None:
        """Check every entry, then add or replace them in order, appending each to ``done``."""
        value = _parse(body)
        if value is None:
            value = []  # JSON null decodes into an empty list, as in Go
        if not isinstance(value, list):
            message = (
                f"json: cannot unmarshal {gojson.json_kind(value)} into Go value of type []{POPULATE_ITEM}"
            )
            raise errors.BAD_REQUEST_BODY.joined(message)
        entries = [_decode(item, POPULATE_FIELDS, ".Proxy", POPULATE_ITEM) for item in value]
        for number, entry in enumerate(entries, start=1):
            for required in ("name", "upstream"):
                if not entry.get(required):
                    raise errors.MISSING_FIELD.joined(f"{required} at proxy {number}")
        async with self._lock:
            for entry in entries:
                done.append(await self._add_or_replace(entry))

    async def _add_or_replace(self, entry: dict[str, Any]) -> Proxy:
        name, listen, upstream = entry["name"], entry.get("listen", ""), entry["upstream"]
        existing = self.proxies.get(name)
        if existing is not None:
            if not existing.differs(listen, upstream):
                return existing
            await existing.stop()
        proxy = Proxy(name, listen, upstream, self.seed)
        if entry.get("enabled", True):
            await proxy.start()
        self.proxies[name] = proxy
        return proxy

    async def reset(self, request: Request, params: dict[str, str]) -> Response:
        """Enable every proxy and remove all toxics; the body is ignored (spec §9.2)."""
        async with self._lock:
            for proxy in list(self.proxies.values()):
                await proxy.start()
                await proxy.toxics.reset()
        return Response(204)

    async def version(self, request: Request, params: dict[str, str]) -> Response:
        return Response(200, f'{{"version": "{VERSION}"}}\n'.encode(), "application/json;charset=utf-8")

    # -- toxics --------------------------------------------------------------------------------------------

    async def toxic_index(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxy(params["proxy"])
        return _json(200, [toxic_json(wrapper) for wrapper in proxy.toxics.toxics()])

    async def toxic_create(self, request: Request, params: dict[str, str]) -> Response:
        proxy = self._proxy(params["proxy"])
        value = _parse(request.body)
        given = _decode(value, TOXIC_FIELDS, "ToxicWrapper", "toxics.ToxicWrapper")
        stream = given.get("stream", "downstream")
        direction = Direction.parse(stream)
        if direction is None:
            raise errors.INVALID_STREAM
        type_name = given.get("type", "")
        name = given.get("name") or f"{type_name}_{stream}"

        def build(cls: type[Toxic]) -> Toxic:
            where = f"{cls.go_name}.attributes"
            values = _decode(
                _last(value, "attributes"), _attribute_fields(cls), where, f"toxics.{cls.go_name}"
            )
            return _build(cls, values)

        wrapper = await proxy.toxics.add(
            name, type_name, stream, direction, given.get("toxicity", 1.0), build
        )
        return _json(200, toxic_json(wrapper))

    async def toxic_show(self, request: Request, params: dict[str, str]) -> Response:
        wrapper = self._proxy(params["proxy"]).toxics.get(params["toxic"])
        return _json(200, toxic_json(wrapper))

    async def toxic_update(self, request: Request, params: dict[str, str]) -> Response:
        """Merge attributes and toxicity into the toxic (spec §4.7); well-typed fields stick even on error."""
        proxy = self._proxy(params["proxy"])
        wrapper = proxy.toxics.get(params["toxic"])
        value = _parse(request.body)
        cls = type(wrapper.toxic)
        outer = [Field("attributes", f"toxics.{cls.go_name}"), Field("toxicity", "float32")]
        given, outer_problem = gojson.decode_object(value, outer, "", UPDATE_STRUCT)
        given_attributes = _last(value, "attributes")  # a non-object was reported by the outer decode
        attributes, problem = gojson.decode_object(
            given_attributes if isinstance(given_attributes, dict) else None,
            _attribute_fields(cls),
            f"{cls.go_name}.attributes",
            f"toxics.{cls.go_name}",
        )
        merged = attributes_of(wrapper.toxic) | attributes
        toxic = _build(cls, merged)
        failure = outer_problem or problem
        if outer_problem and problem and _first_key(value, ("attributes", "toxicity")) == "attributes":
            failure = problem  # Go reports the first type error in document order
        if failure is not None:
            if attributes:
                await proxy.toxics.update(wrapper, toxic, None)
            raise errors.BAD_REQUEST_BODY.joined(failure)
        await proxy.toxics.update(wrapper, toxic, given.get("toxicity"))
        return _json(200, toxic_json(wrapper))

    async def toxic_delete(self, request: Request, params: dict[str, str]) -> Response:
        await self._proxy(params["proxy"]).toxics.remove(params["toxic"])
        return Response(204)

    async def close(self) -> None:
        """Stop every proxy (closing all their connections)."""
        for proxy in list(self.proxies.values()):
            await proxy.stop()


def _compile(pattern: str) -> re.Pattern[str]:
    """A path pattern as a regex: ``{name}`` matches one non-empty path segment."""
    return re.compile(re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern))
