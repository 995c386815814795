"""The stub upstreams of the seed design, one module each, and the table that names them.

Names are the registry names the seed uses (``user-service``, ...); each factory returns a fresh
FastAPI app with its own state, fault engine and recorder.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from stubs.services import prediction, processing, user, weather

__all__ = ["REGISTRY", "UPSTREAMS"]

UPSTREAMS: dict[str, Callable[[], FastAPI]] = {
    "user-service": user.create_app,
    "weather-service": weather.create_app,
    "prediction-service": prediction.create_app,
    "processing-service": processing.create_app,
}
"""Factory per upstream stub. The registry (:mod:`stubs.services.registry`) is built apart, with
the upstreams' addresses as its initial catalogue."""

REGISTRY = "service-registry"
