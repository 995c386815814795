"""Dead-letter queue: the service (``create_app``, ``python -m resilience.dlq``) and its client.

Names load lazily: the client needs only httpx, so ``from resilience.dlq import DLQClient`` never
imports SQLAlchemy or FastAPI; the service's names import them on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from resilience.dlq.app import create_app
    from resilience.dlq.client import (
        DLQClient,
        DLQRejectedError,
        DLQUnavailableError,
        SendResult,
        dead_letter_on_failure,
        send_to_dead_letter_queue,
    )
    from resilience.dlq.settings import Settings

__all__ = [
    "DLQClient",
    "DLQRejectedError",
    "DLQUnavailableError",
    "SendResult",
    "Settings",
    "create_app",
    "dead_letter_on_failure",
    "send_to_dead_letter_queue",
]

_HOMES = {
    "create_app": "resilience.dlq.app",
    "Settings": "resilience.dlq.settings",
    **{
        name: "resilience.dlq.client"
        for name in (
            "DLQClient",
            "DLQRejectedError",
            "DLQUnavailableError",
            "SendResult",
            "dead_letter_on_failure",
            "send_to_dead_letter_queue",
        )
    },
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'resilience.dlq' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
