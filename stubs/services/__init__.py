"""The stub upstreams of the seed design, one module each, and the table that names them.

Names are the registry names the seed uses (``user-service``, ...); each factory returns a fresh
FastAPI app with its own state, fault engine and recorder. A service's module (and FastAPI with it)
is imported when its factory is first called, so code that only needs the names (validating a
scenario, ``harness validate``) does not load the web stack.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["REGISTRY", "UPSTREAMS"]


def _factory(module: str) -> Callable[[], FastAPI]:
    """``stubs.services.<module>.create_app``, imported on call."""

    def create_app() -> FastAPI:
        factory: Callable[[], FastAPI] = importlib.import_module(f"stubs.services.{module}").create_app
        return factory()

    return create_app


UPSTREAMS: dict[str, Callable[[], FastAPI]] = {
    "user-service": _factory("user"),
    "weather-service": _factory("weather"),
    "prediction-service": _factory("prediction"),
    "processing-service": _factory("processing"),
}
"""Factory per upstream stub. The registry (:mod:`stubs.services.registry`) is built apart, with
the upstreams' addresses as its initial catalogue."""

REGISTRY = "service-registry"
