"""Prometheus metrics for circuit breakers (needs ``prometheus-client``; imported only here).

Metrics, all labelled with ``breaker`` (its name):

- ``resilience_breaker_state{breaker,state}``: 1 for the current state, 0 for the others; read at
  scrape time, so it is never stale.
- ``resilience_breaker_calls_total{breaker,outcome}``: outcome is one of ``success``, ``failure``,
  ``slow_success``, ``slow_failure``, ``ignored``, ``rejected``.
- ``resilience_breaker_transitions_total{breaker,from_state,to_state}``.

Usage::

    metrics = PrometheusBreakerMetrics()          # registers in prometheus_client.REGISTRY
    metrics.attach(breaker)                       # or BreakerRegistry(..., on_create=metrics.attach)

Attaching adds a call hook, so that breaker leaves its lock-free success path (one short lock
section per call instead).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from resilience.breaker import CallEvent, CircuitBreaker, CircuitState, StateTransition

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["PrometheusBreakerMetrics"]


def _import_prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("breaker metrics need prometheus-client: pip install prometheus-client") from None
    return prometheus_client


class PrometheusBreakerMetrics:
    """The three breaker metrics in one Prometheus registry; attach any number of breakers.

    Create one per :class:`~prometheus_client.CollectorRegistry` (default: the global
    ``REGISTRY``); a second one in the same registry fails there with a duplicate-metric error.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        prometheus = _import_prometheus()
        target = registry if registry is not None else prometheus.REGISTRY
        self._state = prometheus.Gauge(
            "resilience_breaker_state",
            "1 for the breaker's current state, 0 for the others.",
            ["breaker", "state"],
            registry=target,
        )
        self._calls = prometheus.Counter(
            "resilience_breaker_calls",
            "Calls through the breaker by outcome.",
            ["breaker", "outcome"],
            registry=target,
        )
        self._transitions = prometheus.Counter(
            "resilience_breaker_transitions",
            "State transitions of the breaker.",
            ["breaker", "from_state", "to_state"],
            registry=target,
        )

    def attach(self, breaker: CircuitBreaker) -> None:
        """Start exporting ``breaker``'s state, call outcomes and transitions."""
        for state in CircuitState:
            self._state.labels(breaker.name, state.value).set_function(
                lambda state=state: 1.0 if breaker.state is state else 0.0
            )
        breaker.add_call_hook(self._on_call)
        breaker.add_listener(self._on_transition)

    def _on_call(self, event: CallEvent) -> None:
        self._calls.labels(event.breaker, event.outcome.value).inc()

    def _on_transition(self, event: StateTransition) -> None:
        self._transitions.labels(event.breaker, event.from_state.value, event.to_state.value).inc()
