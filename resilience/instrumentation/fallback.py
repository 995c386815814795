"""Prometheus export of fallback counters, read from :func:`resilience.fallback.all_statistics` at
scrape time (the protected call's hot path never touches ``prometheus_client``).

Metrics (summed over functions sharing a name):

- ``resilience_fallback_calls_total{name}``: calls through ``with_fallback``.
- ``resilience_fallback_activations_total{name, reason}``: fallbacks served or attempted, by reason
  (``error``, ``circuit_open``, ``forced``, ``feature_disabled``).
- ``resilience_fallback_failures_total{name}``: activations whose fallback failed too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from resilience.fallback import all_statistics
from resilience.instrumentation.retry import counter_families, register_collector

__all__ = ["FallbackCollector", "register_prometheus"]


class FallbackCollector(Collector):
    """A custom collector over every live :class:`~resilience.fallback.FallbackStatistics`."""

    def collect(self) -> Iterator[Metric]:
        calls: Counter[tuple[str, ...]] = Counter()
        activations: Counter[tuple[str, ...]] = Counter()
        failures: Counter[tuple[str, ...]] = Counter()
        for stats in all_statistics():
            calls[stats.name,] += stats.calls
            failures[stats.name,] += stats.failures
            for reason, count in list(stats.activations.items()):
                activations[stats.name, reason] += count
        return counter_families(
            [
                ("resilience_fallback_calls", "Calls through with_fallback.", ["name"], calls),
                ("resilience_fallback_activations", "Fallbacks, by reason.", ["name", "reason"], activations),
                ("resilience_fallback_failures", "Fallbacks that failed too.", ["name"], failures),
            ]
        )


def register_prometheus(registry: CollectorRegistry | None = None) -> Collector:
    """Export fallback counters to ``registry`` (default: ``prometheus_client.REGISTRY``); idempotent."""
    return register_collector(FallbackCollector, registry)
