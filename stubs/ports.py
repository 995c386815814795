"""Where ``harness stubs serve`` puts each service: fixed ports from a base port.

Kept apart from :mod:`stubs.platform` (which re-exports it) and free of imports, so the ``harness``
command can show these defaults in its help without importing FastAPI, uvicorn or httpx.
"""

from __future__ import annotations

__all__ = ["DEFAULT_BASE_PORT", "GATEWAY", "PORT_OFFSETS", "ports_from"]

GATEWAY = "gateway"
DEFAULT_BASE_PORT = 18080
PORT_OFFSETS: dict[str, int] = {
    GATEWAY: 0,
    "user-service": 1,
    "weather-service": 2,
    "prediction-service": 3,
    "processing-service": 4,
    "service-registry": 5,  # stubs.services.REGISTRY
}
"""Base port + offset per service (18080 to 18085 by default); the names are the stubs' own."""


def ports_from(base: int) -> dict[str, int]:
    """The fixed port of every service (gateway included) for a base port."""
    if not 1 <= base <= 65535 - max(PORT_OFFSETS.values()):
        raise ValueError(f"base port must be in 1..{65535 - max(PORT_OFFSETS.values())}, got {base}")
    return {name: base + offset for name, offset in PORT_OFFSETS.items()}
