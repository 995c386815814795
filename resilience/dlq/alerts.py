"""Alerting: log and POST to a webhook when depth, oldest age or a group's rate crosses a threshold.

Deciding is a pure function (:func:`evaluate`) of a stats snapshot and the thresholds; sending is
:class:`Alerter`, which debounces per alert key (an alert that stays true fires at most once per
``debounce`` seconds) and never lets a failing webhook stop the worker.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import httpx

from resilience.dlq.settings import Settings
from resilience.dlq.store import Stats

__all__ = ["Alert", "Alerter", "evaluate"]

logger = logging.getLogger("resilience.dlq.alerts")


@dataclasses.dataclass(frozen=True)
class Alert:
    kind: str
    """``depth``, ``oldest_age`` or ``group_rate``."""
    key: str
    """What is alerting: ``depth``, ``oldest_age`` or ``group_rate:<fingerprint>`` (debounce key)."""
    value: float
    threshold: float
    message: str


def evaluate(stats: Stats, settings: Settings) -> list[Alert]:
    """Every threshold ``stats`` crosses (``>=``); thresholds that are ``None`` are off."""
    alerts: list[Alert] = []
    if settings.alert_depth is not None and stats.unresolved >= settings.alert_depth:
        alerts.append(
            Alert("depth", "depth", stats.unresolved, settings.alert_depth,
                  f"DLQ depth {stats.unresolved} >= {settings.alert_depth} unresolved messages")
        )  # fmt: skip
    age = stats.oldest_unresolved_age_seconds
    if settings.alert_oldest_age is not None and age is not None and age >= settings.alert_oldest_age:
        alerts.append(
            Alert("oldest_age", "oldest_age", age, settings.alert_oldest_age,
                  f"oldest unresolved message is {age:.0f}s old (threshold {settings.alert_oldest_age:.0f}s)")
        )  # fmt: skip
    if settings.alert_group_rate is not None:
        for group in stats.groups:
            recent = int(group.get("recent", 0))
            if recent >= settings.alert_group_rate:
                fp = group["fingerprint"]
                alerts.append(
                    Alert("group_rate", f"group_rate:{fp}", recent, settings.alert_group_rate,
                          f"{recent} messages in {settings.alert_group_window:.0f}s failed with "
                          f"{group['error_type']}: {group['normalized_message']} ({fp})")
                )  # fmt: skip
    return alerts


class Alerter:
    """Sends the alerts :func:`evaluate` finds, at most once per key per ``settings.alert_debounce``."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.AsyncClient,
        monotonic: Callable[[], float] = time.monotonic,
        on_alert: Callable[[Alert], None] | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._monotonic = monotonic
        self._on_alert = on_alert
        self._last_fired: dict[str, float] = {}

    @property
    def enabled(self) -> bool:
        s = self._settings
        return any(t is not None for t in (s.alert_depth, s.alert_oldest_age, s.alert_group_rate))

    async def check(self, stats: Stats) -> list[Alert]:
        """Fire the alerts due now and return them."""
        now = self._monotonic()
        fired: list[Alert] = []
        for alert in evaluate(stats, self._settings):
            last = self._last_fired.get(alert.key)
            if last is not None and now - last < self._settings.alert_debounce:
                continue
            self._last_fired[alert.key] = now
            fired.append(alert)
            logger.warning(
                "dlq alert: %s", alert.message,
                extra={"alert_kind": alert.kind, "alert_key": alert.key, "value": alert.value,
                       "threshold": alert.threshold},
            )  # fmt: skip
            if self._on_alert is not None:
                self._on_alert(alert)
            await self._post(alert)
        return fired

    async def _post(self, alert: Alert) -> None:
        url = self._settings.alert_webhook_url
        if url is None:
            return
        try:
            response = await self._http.post(
                url, json={"source": "resilience.dlq", **dataclasses.asdict(alert)}
            )
            response.raise_for_status()
        except httpx.HTTPError as exc:
            logger.error("dlq alert webhook %s failed: %s", url, exc)
