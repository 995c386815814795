"""What a stub does to the requests it receives: the validated model behind ``/_admin/behaviour``.

A :class:`Behaviour` is a :class:`Fault` (the HTTP-level faults Toxiproxy cannot make) plus a seed,
an optional route scope and an optional schedule of timed steps. All delays are in milliseconds,
all rates are probabilities in ``[0, 1]``. Every sampled delay is clamped to ``[0, MAX_DELAY_MS]`` so a
fat-tailed distribution can never hang a stub. Example (JSON, as sent to ``PUT /_admin/behaviour``)::

    {"latency": {"kind": "normal", "mean_ms": 200, "stddev_ms": 50},
     "error_rate": 0.3, "error_status": [502, 503], "retry_after_s": 2, "seed": 7}

Order of effects on one in-scope request: latency (before the handler runs), then drop, then
fail-first-N, then the error rate; a request that is not failed runs the real handler, then waits
``headers_delay_ms`` (after the handler ran: its side effects happened), then the body may be
corrupted and is sent whole or dripped (``slow_body``).
"""

from __future__ import annotations

import enum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_DELAY_MS",
    "Behaviour",
    "BodyFault",
    "DropMode",
    "ExponentialLatency",
    "Fault",
    "FixedLatency",
    "Latency",
    "NormalLatency",
    "SlowBody",
    "Step",
    "UniformLatency",
]

MAX_DELAY_MS = 60_000.0
"""Upper bound of every delay a stub adds (one minute)."""

_Ms = Annotated[float, Field(ge=0, le=MAX_DELAY_MS)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedLatency(_Model):
    """Always ``ms``."""

    kind: Literal["fixed"] = "fixed"
    ms: _Ms


class UniformLatency(_Model):
    """Uniform between ``low_ms`` and ``high_ms``."""

    kind: Literal["uniform"]
    low_ms: _Ms
    high_ms: _Ms

    @model_validator(mode="after")
    def _ordered(self) -> UniformLatency:
        if self.low_ms > self.high_ms:
            raise ValueError(f"low_ms ({self.low_ms}) must not exceed high_ms ({self.high_ms})")
        return self


class NormalLatency(_Model):
    """Gaussian with ``mean_ms`` and ``stddev_ms``; negative samples become 0."""

    kind: Literal["normal"]
    mean_ms: _Ms
    stddev_ms: _Ms


class ExponentialLatency(_Model):
    """Exponential with mean ``mean_ms`` (a long tail: p99 is about 4.6 times the mean)."""

    kind: Literal["exponential"]
    mean_ms: Annotated[float, Field(gt=0, le=MAX_DELAY_MS)]


Latency = Annotated[
    FixedLatency | UniformLatency | NormalLatency | ExponentialLatency, Field(discriminator="kind")
]


class SlowBody(_Model):
    """Drip the response body: ``chunk_bytes`` bytes every ``interval_ms`` milliseconds."""

    chunk_bytes: int = Field(default=16, ge=1, le=1_000_000)
    interval_ms: _Ms = 50.0


class BodyFault(enum.Enum):
    """How a successful body is broken.

    ``truncate``: the headers promise the full ``Content-Length``, half the body is sent, then the
    connection closes. ``malformed``: a well-framed 200 whose body is cut-off, invalid JSON.
    """

    TRUNCATE = "truncate"
    MALFORMED = "malformed"


class DropMode(enum.Enum):
    """How a dropped connection ends: ``close`` sends FIN, ``reset`` sends RST (SO_LINGER 0)."""

    CLOSE = "close"
    RESET = "reset"


class Fault(_Model):
    """One state of a stub. The default instance is a healthy stub."""

    latency: Latency | None = None
    error_rate: float = Field(
        default=0.0, ge=0, le=1, description="Probability that a request gets an error."
    )
    error_status: list[Annotated[int, Field(ge=400, le=599)]] = Field(
        default_factory=lambda: [503], min_length=1, description="Error statuses, picked uniformly."
    )
    error_body: Any = Field(
        default=None, description="JSON body (or text) of errors; a standard one by default."
    )
    retry_after_s: int | None = Field(
        default=None, ge=0, le=86_400, description="Retry-After header on errors."
    )
    fail_first: int = Field(default=0, ge=0, description="Fail this many in-scope requests, then succeed.")
    drop_rate: float = Field(
        default=0.0, ge=0, le=1, description="Probability of closing without a response."
    )
    drop_mode: DropMode = DropMode.CLOSE
    headers_delay_ms: _Ms = Field(default=0.0, description="Delay after the handler ran, before the headers.")
    slow_body: SlowBody | None = None
    body_fault: BodyFault | None = None

    @model_validator(mode="before")
    @classmethod
    def _latency_shorthand(cls, data: Any) -> Any:
        """Accept ``"latency": 200`` as ``{"kind": "fixed", "ms": 200}``."""
        if isinstance(data, dict) and isinstance(data.get("latency"), int | float):
            return {**data, "latency": {"kind": "fixed", "ms": data["latency"]}}
        return data


class Step(_Model):
    """One step of a schedule: ``fault`` for ``duration_s`` seconds."""

    duration_s: float = Field(gt=0, le=86_400)
    fault: Fault = Field(default_factory=Fault)


class Behaviour(Fault):
    """What a stub does now. The top-level fault fields apply when no schedule step is active.

    ``routes``: glob patterns on the request path (``"/weather/*"``); ``None`` means every route
    except ``/_admin/*`` and ``/health``, which are never faulted. ``schedule`` runs its steps in
    order from the moment the behaviour is set; with ``loop`` it starts over (flapping), without it
    the top-level fields apply after the last step. ``seed`` makes every random choice repeatable.
    """

    seed: int | None = None
    routes: list[str] | None = Field(default=None, min_length=1)
    schedule: list[Step] = Field(default_factory=list, max_length=1000)
    loop: bool = False

    @model_validator(mode="after")
    def _loop_needs_schedule(self) -> Behaviour:
        if self.loop and not self.schedule:
            raise ValueError("loop is true but schedule is empty: give at least one step to repeat")
        return self
