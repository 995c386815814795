"""The ``load:`` section of a scenario: how much traffic, from which locustfile, for how long."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["BUILTIN_LOCUSTFILE", "LoadSpec"]

BUILTIN_LOCUSTFILE = Path(__file__).parent / "locustfiles" / "gateway.py"
"""Locustfile for the built-in system under test; usable as ``locust -f`` too."""


class LoadSpec(BaseModel):
    """Headless Locust load, bounded in time and in requests.

    The intended request rate is ``users * rate_per_user`` (each user paces itself with Locust's
    ``constant_throughput``); the measured, achieved rate is reported beside it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    users: int = Field(10, ge=1, le=1000, description="Concurrent simulated users.")
    spawn_rate: float = Field(10.0, gt=0, description="Users started per second.")
    rate_per_user: float = Field(
        5.0, gt=0, le=1000, description="Requests per second each user aims for (constant throughput)."
    )
    locustfile: Path = Field(
        BUILTIN_LOCUSTFILE, description="Locustfile to run; the built-in one by default."
    )
    host: str | None = Field(
        None, description="Base URL to load; defaults to the system under test the scenario starts."
    )
    processes: int = Field(
        1, ge=1, le=16, description="Locust processes; more than 1 runs one master and N workers here."
    )
    duration: float | None = Field(
        None, gt=0, le=3600, description="Seconds of load; defaults to the scenario's phases end to end."
    )
    max_requests: int = Field(
        20000, ge=1, le=1_000_000, description="Hard bound: Locust stops after this many requests."
    )

    @model_validator(mode="after")
    def _loopback_only(self) -> LoadSpec:
        if self.host is not None and not _is_loopback_url(self.host):
            raise ValueError(
                f"load.host must be a loopback URL (127.0.0.0/8, localhost or [::1]), got {self.host!r}"
            )
        return self

    @property
    def intended_rps(self) -> float:
        return self.users * self.rate_per_user


def _is_loopback_url(url: str) -> bool:
    from ipaddress import ip_address
    from urllib.parse import urlsplit

    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False
