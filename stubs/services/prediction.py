"""prediction-service: a demand forecast per region (hourly points, MW) for the next hours."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query

from stubs._app import create_stub_app
from stubs.services._seed import rng_for

__all__ = ["MODEL_VERSION", "create_app"]

MODEL_VERSION = "stub-2026.11"


def create_app() -> FastAPI:
    app = create_stub_app("prediction-service")

    @app.get("/predictions/{region}")
    async def get_prediction(region: str, horizon_hours: int = Query(6, ge=1, le=48)) -> dict[str, Any]:
        rng = rng_for("prediction", region)
        base = rng.uniform(800.0, 1600.0)
        return {
            "region": region,
            "unit": "MW",
            "model_version": MODEL_VERSION,
            "horizon_hours": horizon_hours,
            "points": [
                {"hour": h, "demand_mw": round(base * (1 + 0.05 * rng.uniform(-1, 1)), 1)}
                for h in range(horizon_hours)
            ],
        }

    return app
