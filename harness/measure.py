"""Measurements: raw request samples and the statistics computed from them.

Probes and Locust workers both produce :class:`Sample` records; everything downstream (per-phase
tables, gates, reports) reads :class:`Stats` computed here from the raw samples. Percentiles are
exact over the samples (linear interpolation between closest ranks, as numpy's default), never
read from rounded histogram buckets, so p99 can never exceed the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Sample", "Stats", "by_route", "percentile", "summarize", "within"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One request as seen by its client.

    ``t`` is seconds since the run started (monotonic), taken when the request was sent.
    ``fallback`` is true when the answer was marked as degraded (served from a fallback).
    """

    t: float
    route: str
    latency_ms: float
    ok: bool
    status: int | None = None
    fallback: bool = False
    source: str = "probe"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of a set of samples over ``duration_s`` seconds. Latencies are in milliseconds."""

    count: int
    errors: int
    fallbacks: int
    duration_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.count if self.count else 0.0

    @property
    def throughput_rps(self) -> float:
        return self.count / self.duration_s if self.duration_s > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            error_rate=self.error_rate,
            fallback_rate=self.fallback_rate,
            throughput_rps=self.throughput_rps,
        )
        return data


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of already sorted values; NaN when there are none."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not sorted_values:
        return math.nan
    rank = (len(sorted_values) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def summarize(samples: Iterable[Sample], duration_s: float) -> Stats:
    """Statistics of ``samples`` observed over a window of ``duration_s`` seconds."""
    batch = list(samples)
    latencies = sorted(s.latency_ms for s in batch)
    return Stats(
        count=len(batch),
        errors=sum(not s.ok for s in batch),
        fallbacks=sum(s.fallback for s in batch),
        duration_s=duration_s,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99),
        max_ms=latencies[-1] if latencies else math.nan,
        mean_ms=sum(latencies) / len(latencies) if latencies else math.nan,
    )


def within(samples: Iterable[Sample], start: float, end: float) -> list[Sample]:
    """The samples sent in ``[start, end)`` (seconds since the run started)."""
    return [s for s in samples if start <= s.t < end]


def by_route(samples: Iterable[Sample], duration_s: float) -> dict[str, Stats]:
    """Statistics per route, routes sorted by name."""
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.route, []).append(sample)
    return {route: summarize(groups[route], duration_s) for route in sorted(groups)}
