"""user-service: user profiles. Users 1 to 1000 exist; any other id is a 404."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from stubs._app import create_stub_app
from stubs.services._seed import rng_for

__all__ = ["MAX_USER_ID", "create_app"]

MAX_USER_ID = 1000
_PLANS = ("free", "pro", "enterprise")
_REGIONS = ("north", "south", "east", "west")


def create_app() -> FastAPI:
    app = create_stub_app("user-service")

    @app.get("/users/{user_id}")
    async def get_user(user_id: str) -> Any:
        if not user_id.isdigit() or not 1 <= int(user_id) <= MAX_USER_ID:
            return JSONResponse(
                status_code=404,
                content={"error": {"code": "USER_NOT_FOUND", "message": f"no user {user_id!r}"}},
            )
        rng = rng_for("user", user_id)
        return {
            "user_id": user_id,
            "name": f"User {user_id}",
            "email": f"user{user_id}@example.com",
            "plan": rng.choice(_PLANS),
            "region": rng.choice(_REGIONS),
        }

    return app
