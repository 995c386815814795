"""Prometheus export of retry counters, read from :func:`resilience.retry.all_statistics` at scrape
time, so the retry hot path never touches ``prometheus_client``.

Metrics (summed over functions sharing a name):

- ``resilience_retry_calls_total{name}``: calls (first attempts).
- ``resilience_retry_attempts_total{name}``: every attempt, first ones included.
- ``resilience_retry_retries_total{name, error_type}``: retries, by the error that caused them
  (``result`` when ``retry_on_result`` asked for it).
- ``resilience_retry_give_ups_total{name, reason}``: calls that ended in failure, by
  :class:`~resilience.retry.GiveUpReason` value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector, CollectorRegistry

from resilience.retry import all_statistics

__all__ = ["RetryCollector", "counter_families", "register_collector", "register_prometheus"]

CounterSpec = tuple[str, str, list[str], Counter[tuple[str, ...]]]
"""(metric name without ``_total``, help text, label names, values keyed by label values)."""


def counter_families(specs: Iterable[CounterSpec]) -> Iterator[Metric]:
    """Turn aggregated counts into counter families, labels sorted for stable output."""
    for metric, documentation, labels, values in specs:
        family = CounterMetricFamily(metric, documentation, labels=labels)
        for key, value in sorted(values.items()):
            family.add_metric(list(key), value)
        yield family


class RetryCollector(Collector):
    """A custom collector over every live :class:`~resilience.retry.RetryStatistics`."""

    def collect(self) -> Iterator[Metric]:
        calls: Counter[tuple[str, ...]] = Counter()
        attempts: Counter[tuple[str, ...]] = Counter()
        retries: Counter[tuple[str, ...]] = Counter()
        give_ups: Counter[tuple[str, ...]] = Counter()
        for stats in all_statistics():
            calls[stats.name,] += stats.calls
            attempts[stats.name,] += stats.attempts
            for error_type, count in list(stats.errors.items()):
                retries[stats.name, error_type] += count
            for reason, count in list(stats.give_ups.items()):
                give_ups[stats.name, reason] += count
        return counter_families(
            [
                ("resilience_retry_calls", "Calls made through retry.", ["name"], calls),
                ("resilience_retry_attempts", "Attempts, first ones included.", ["name"], attempts),
                ("resilience_retry_retries", "Retries, by error type.", ["name", "error_type"], retries),
                ("resilience_retry_give_ups", "Failed calls, by reason.", ["name", "reason"], give_ups),
            ]
        )


_REGISTERED: dict[tuple[int, type[Collector]], Collector] = {}


def register_collector(kind: type[Collector], registry: CollectorRegistry | None) -> Collector:
    """Register one ``kind`` collector per registry (default: the global one); idempotent."""
    target = REGISTRY if registry is None else registry
    collector = _REGISTERED.get((id(target), kind))
    if collector is None:
        collector = _REGISTERED[id(target), kind] = kind()
        target.register(collector)
    return collector


def register_prometheus(registry: CollectorRegistry | None = None) -> Collector:
    """Export retry counters to ``registry`` (default: ``prometheus_client.REGISTRY``); idempotent."""
    return register_collector(RetryCollector, registry)
