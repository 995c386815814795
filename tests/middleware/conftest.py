"""Helpers: call an ASGI app over httpx's in-process transport from a plain sync test."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

Call = Callable[..., httpx.Response]


def call_app(app: ASGIApp, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request through the real ASGI stack; app exceptions stay inside (the server's view)."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return await client.request(method, url, **kwargs)

    return asyncio.run(go())


@pytest.fixture
def demo() -> Call:
    """``demo("GET", "/ok", headers=...)`` against the demo app with default options."""
    from ._app import make_app

    app = make_app()
    return lambda method, url, **kwargs: call_app(app, method, url, **kwargs)
