"""Prometheus metrics for one DLQ app, in its own registry (several apps can share a process).

Counters are bumped by the API and the worker; depth and oldest age are read from the database at
scrape time, so every replica reports the shared queue's true state rather than its own view.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from resilience.dlq.store import Store

__all__ = ["CONTENT_TYPE", "DLQMetrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _DepthCollector(Collector):
    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._store.stats(group_limit=0)
        depth = GaugeMetricFamily("resilience_dlq_depth", "Messages in the DLQ by status", labels=["status"])
        for status, count in stats.depth_by_status.items():
            depth.add_metric([status], count)
        yield depth
        yield GaugeMetricFamily(
            "resilience_dlq_oldest_unresolved_age_seconds",
            "Age of the oldest unresolved message (0 when there is none)",
            value=stats.oldest_unresolved_age_seconds or 0.0,
        )


class DLQMetrics:
    def __init__(self, store: Store) -> None:
        self.registry = CollectorRegistry()
        self.created = Counter(
            "resilience_dlq_messages_created", "Messages dead-lettered (new, not idempotent replays)",
            registry=self.registry,
        )  # fmt: skip
        self.redeliveries = Counter(
            "resilience_dlq_redeliveries",
            "Redelivery attempts by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.failures = Counter(
            "resilience_dlq_failures", "Messages that exhausted their redeliveries (now FAILED)",
            registry=self.registry,
        )  # fmt: skip
        self.alerts = Counter(
            "resilience_dlq_alerts", "Alerts fired by kind", ["kind"], registry=self.registry
        )
        self.registry.register(_DepthCollector(store))

    def render(self) -> bytes:
        return generate_latest(self.registry)
