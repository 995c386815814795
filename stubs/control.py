"""Drive a stub's admin API from Python, over HTTP, exactly as a scenario or a remote test would.

::

    control = StubControl("http://127.0.0.1:18081")
    with control.behaviour(error_rate=1.0, error_status=[503], retry_after_s=2):
        ...                                  # every request to the stub now gets 503
    assert control.count("/weather/{location}") == 3
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from stubs._http import tls_context
from stubs.behaviour import Behaviour

__all__ = ["StubControl", "StubControlError"]


class StubControlError(RuntimeError):
    """The stub refused an admin request or could not be reached; ``str()`` says which and why."""


class StubControl:
    """Sync client for ``/_admin/*`` of one stub at ``base_url``. Use as a context manager or close()."""

    def __init__(self, base_url: str, *, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout, verify=tls_context())

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, f"/_admin{path}", **kwargs)
        except httpx.TransportError as error:
            raise StubControlError(
                f"{method} {self.base_url}/_admin{path}: stub unreachable ({type(error).__name__}: {error})"
            ) from error
        if response.is_error:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text
            raise StubControlError(
                f"{method} {self.base_url}/_admin{path}: HTTP {response.status_code}: {message}"
            )
        return response.json()

    def set_behaviour(
        self, behaviour: Behaviour | dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Set a behaviour from a model, a dict, or keyword fields; validated by the stub."""
        if isinstance(behaviour, Behaviour):
            body: dict[str, Any] = behaviour.model_dump(mode="json")
        else:
            body = {**(behaviour or {}), **fields}
        result: dict[str, Any] = self._call("PUT", "/behaviour", json=body)
        return result

    def get_behaviour(self) -> dict[str, Any]:
        """The behaviour in force, its elapsed seconds and the active schedule step."""
        result: dict[str, Any] = self._call("GET", "/behaviour")
        return result

    def clear_behaviour(self) -> None:
        self._call("DELETE", "/behaviour")

    @contextmanager
    def behaviour(self, behaviour: Behaviour | dict[str, Any] | None = None, **fields: Any) -> Iterator[None]:
        """Apply a behaviour for the block and clear it afterwards, whatever happens."""
        self.set_behaviour(behaviour, **fields)
        try:
            yield
        finally:
            self.clear_behaviour()

    def requests(self, route: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """``{"total", "counts": {route: n}, "requests": [record, ...]}`` (records oldest first)."""
        params = {k: v for k, v in (("route", route), ("limit", limit)) if v is not None}
        result: dict[str, Any] = self._call("GET", "/requests", params=params)
        return result

    def count(self, route: str | None = None) -> int:
        """Requests received on ``route`` (a template such as ``/users/{user_id}``), or in total."""
        snapshot = self.requests(limit=0)
        return int(snapshot["total"] if route is None else snapshot["counts"].get(route, 0))

    def reset(self) -> None:
        """Healthy again, records cleared, service state back to its start."""
        self._call("POST", "/reset")

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> StubControl:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
