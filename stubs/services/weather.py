"""weather-service: current conditions per location, stable for a given location and hour."""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI

from stubs._app import create_stub_app
from stubs.services._seed import rng_for

__all__ = ["create_app"]

_CONDITIONS = ("sunny", "cloudy", "rain", "wind", "fog")


def create_app() -> FastAPI:
    app = create_stub_app("weather-service")

    @app.get("/weather/{location}")
    async def get_weather(location: str) -> dict[str, Any]:
        hour = int(time.time() // 3600)
        rng = rng_for("weather", location, hour)
        return {
            "location": location,
            "temperature_c": round(rng.uniform(-5.0, 30.0), 1),
            "wind_speed_ms": round(rng.uniform(0.0, 18.0), 1),
            "cloud_cover_pct": rng.randint(0, 100),
            "conditions": rng.choice(_CONDITIONS),
            "observed_at": hour * 3600,
        }

    return app
