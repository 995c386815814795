"""processing-service: accepts messages (``POST /messages``), the DLQ's redelivery destination.

It remembers every delivery (bounded) and how often each message key arrived, so a test can
assert a job was processed exactly once. The key is the first of ``job_id``, ``message_id``,
``id`` found in the JSON object, else the ``Idempotency-Key`` header, else ``None``.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from stubs._app import create_stub_app

__all__ = ["MAX_DELIVERIES", "create_app"]

MAX_DELIVERIES = 10_000
_KEY_FIELDS = ("job_id", "message_id", "id")


def create_app() -> FastAPI:
    deliveries: deque[dict[str, Any]] = deque(maxlen=MAX_DELIVERIES)
    per_key: Counter[str] = Counter()

    def reset() -> None:
        deliveries.clear()
        per_key.clear()

    app = create_stub_app("processing-service", on_reset=reset)

    @app.post("/messages")
    async def process(request: Request) -> Any:
        try:
            payload = await request.json()
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            return JSONResponse(
                status_code=422,
                content={"error": {"code": "INVALID_MESSAGE", "message": "body must be a JSON object"}},
            )
        key = next((str(payload[f]) for f in _KEY_FIELDS if payload.get(f) is not None), None)
        key = key or request.headers.get("idempotency-key")
        if key is not None:
            per_key[key] += 1
        deliveries.append(
            {
                "key": key,
                "payload": payload,
                "time": time.time(),
                "request_id": request.headers.get("x-request-id"),
            }
        )
        return {"status": "processed", "key": key, "deliveries": per_key[key] if key is not None else 1}

    @app.get("/messages")
    async def processed(limit: int = Query(100, ge=0, le=MAX_DELIVERIES)) -> dict[str, Any]:
        """What was processed: delivery count per key and the latest deliveries (oldest first)."""
        latest = list(deliveries)[-limit:] if limit else []
        return {"total": len(deliveries), "per_key": dict(per_key), "messages": latest}

    return app
