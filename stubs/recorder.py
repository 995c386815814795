"""What a stub received: per-route counts for its whole life and the last requests in a ring buffer.

Counts are exact however many requests arrive (one integer per route template, and templates are
few), while the detailed records are bounded by ``capacity`` (default 1000), so a long load run
cannot grow a stub's memory. Counting happens on arrival, so dropped requests are counted too:
that is what lets a scenario measure retry amplification (upstream calls per user request).
"""

from __future__ import annotations

import itertools
import time
from collections import Counter, deque
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["DEFAULT_CAPACITY", "RequestRecord", "RequestRecorder"]

DEFAULT_CAPACITY = 1000


@dataclass(slots=True)
class RequestRecord:
    """One request. ``time`` is Unix seconds at arrival; ``outcome`` is filled in when it ends.

    ``outcome`` is one of ``pending``, ``ok``, ``error`` (an injected error), ``dropped``,
    ``truncated``, ``malformed`` or ``failed`` (the client went away or the handler raised).
    """

    seq: int
    time: float
    method: str
    path: str
    route: str
    request_id: str | None
    status: int | None = None
    outcome: str = "pending"
    duration_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RequestRecorder:
    """Per-route counters plus a ring buffer of :class:`RequestRecord`; one event loop uses it."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self._records: deque[RequestRecord] = deque(maxlen=capacity)
        self._counts: Counter[str] = Counter()
        self._seq = itertools.count(1)

    def arrived(self, method: str, path: str, route: str, request_id: str | None) -> RequestRecord:
        record = RequestRecord(next(self._seq), time.time(), method, path, route, request_id)
        self._records.append(record)
        self._counts[route] += 1
        return record

    def snapshot(self, route: str | None = None, limit: int | None = None) -> dict[str, Any]:
        """Counts per route, their total, and the latest records (oldest first), optionally filtered."""
        records = [r for r in self._records if route is None or r.route == route]
        if limit is not None:
            records = records[-limit:] if limit else []
        return {
            "total": sum(self._counts.values()),
            "counts": dict(self._counts),
            "requests": [r.to_dict() for r in records],
        }

    def reset(self) -> None:
        self._records.clear()
        self._counts.clear()
        self._seq = itertools.count(1)
