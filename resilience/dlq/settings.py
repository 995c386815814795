"""DLQ service configuration: one frozen dataclass, built from ``DLQ_*`` environment variables.

Every field is validated in ``__post_init__`` and an invalid value names the variable that is wrong,
so a misconfigured deployment fails at startup with one clear line instead of a traceback later.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_DATABASE_URL", "ConfigError", "Settings"]

DEFAULT_DATABASE_URL = "sqlite:///./dlq.db"
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_WORKER_INTERVAL = 1.0
DEFAULT_MAX_BODY_BYTES = 1_048_576


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything the service reads from its environment (see :meth:`from_env` for variable names).

    Times are seconds, rates are per second. ``None`` means "off" for optional features.
    """

    database_url: str = DEFAULT_DATABASE_URL
    api_key: str | None = None
    """Required on every endpoint except ``/health``; ``None`` leaves the API open (warned at startup)."""
    service_map: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Static ``destination_service -> base URL`` routes; consulted before the registry."""
    registry_url: str | None = None
    """Consul-compatible catalog base URL (``GET {url}/v1/catalog/service/{name}``)."""
    registry_cache_seconds: float = 10.0
    delivery_path: str = "/messages"
    """Path appended to the destination's base URL, as in the seed (``POST {url}/messages``)."""
    delivery_timeout: float = 10.0
    delivery_attempts: int = 2
    """Immediate attempts per redelivery (through ``resilience.retry``) before scheduling the next one."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    """Scheduled redeliveries before a message becomes FAILED."""
    backoff_base: float = 5.0
    backoff_max: float = 3600.0
    backoff_factor: float = 2.0
    initial_delay: float = 0.0
    """Delay between dead-lettering and the first automatic redelivery."""
    worker_enabled: bool = True
    worker_interval: float = DEFAULT_WORKER_INTERVAL
    worker_batch: int = 50
    lease_seconds: float = 60.0
    """How long a claim protects a message from other replicas; must exceed a whole delivery."""
    redrive_rate: float | None = None
    """Deliveries per second across this replica (token bucket); ``None`` is unlimited."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_batch: int = 500
    migrate_on_startup: bool = True
    sqlite_busy_timeout_ms: int = 10_000
    alert_webhook_url: str | None = None
    alert_depth: int | None = None
    alert_oldest_age: float | None = None
    alert_group_rate: int | None = None
    """Alert when one fingerprint group gets this many new messages within ``alert_group_window``."""
    alert_group_window: float = 300.0
    alert_debounce: float = 300.0
    alert_interval: float = 15.0

    def __post_init__(self) -> None:
        positive = {
            "DLQ_DELIVERY_TIMEOUT": self.delivery_timeout,
            "DLQ_WORKER_INTERVAL": self.worker_interval,
            "DLQ_LEASE_SECONDS": self.lease_seconds,
            "DLQ_BACKOFF_BASE": self.backoff_base,
            "DLQ_BACKOFF_MAX": self.backoff_max,
            "DLQ_ALERT_GROUP_WINDOW": self.alert_group_window,
            "DLQ_ALERT_INTERVAL": self.alert_interval,
            "DLQ_REGISTRY_CACHE_SECONDS": self.registry_cache_seconds,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"{name} must be > 0, got {value!r}")
        at_least_one = {
            "DLQ_MAX_ATTEMPTS": self.max_attempts,
            "DLQ_DELIVERY_ATTEMPTS": self.delivery_attempts,
            "DLQ_WORKER_BATCH": self.worker_batch,
            "DLQ_MAX_BODY_BYTES": self.max_body_bytes,
            "DLQ_MAX_BATCH": self.max_batch,
        }
        for name, number in at_least_one.items():
            if number < 1:
                raise ConfigError(f"{name} must be >= 1, got {number!r}")
        if self.backoff_factor < 1:
            raise ConfigError(f"DLQ_BACKOFF_FACTOR must be >= 1, got {self.backoff_factor!r}")
        if self.initial_delay < 0 or self.alert_debounce < 0:
            raise ConfigError("DLQ_INITIAL_DELAY and DLQ_ALERT_DEBOUNCE must be >= 0")
        if self.redrive_rate is not None and not self.redrive_rate > 0:
            raise ConfigError(f"DLQ_REDRIVE_RATE must be > 0 when set, got {self.redrive_rate!r}")
        if self.lease_seconds <= self.delivery_timeout * self.delivery_attempts:
            raise ConfigError(
                "DLQ_LEASE_SECONDS must exceed DLQ_DELIVERY_TIMEOUT * DLQ_DELIVERY_ATTEMPTS, or a slow "
                "delivery could be claimed again by another replica"
            )
        if not self.delivery_path.startswith("/"):
            raise ConfigError(f"DLQ_DELIVERY_PATH must start with '/', got {self.delivery_path!r}")
        urls = {"DLQ_REGISTRY_URL": self.registry_url, "DLQ_ALERT_WEBHOOK_URL": self.alert_webhook_url}
        for var, url_value in urls.items():
            if url_value is not None and not url_value.startswith(("http://", "https://")):
                raise ConfigError(f"{var} must be an http(s) URL, got {url_value!r}")
        for service, url in self.service_map.items():
            if not url.startswith(("http://", "https://")):
                raise ConfigError(f"DLQ_SERVICE_MAP[{service!r}] must be an http(s) URL, got {url!r}")
        if self.api_key == "":
            raise ConfigError("DLQ_API_KEY is set but empty; unset it to run without authentication")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``DLQ_*`` variables; unset variables keep their defaults.

        ``DLQ_SERVICE_MAP`` is a JSON object (``{"billing": "http://127.0.0.1:9000"}``) or ``@path`` to a
        JSON file. Optional numbers (``DLQ_REDRIVE_RATE``, ``DLQ_ALERT_*``) are off when unset or empty.
        """
        env = os.environ if environ is None else environ
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, field in fields.items():
            var = f"DLQ_{name.upper()}"
            raw = env.get(var)
            if raw is None or (raw == "" and name != "api_key"):
                continue
            values[name] = _parse(var, raw, str(field.type))
        return cls(**values)


def _parse(var: str, raw: str, annotation: str) -> Any:
    """Convert one variable according to the field's annotation (annotations are strings here)."""
    try:
        if annotation.startswith("Mapping"):
            return _service_map(var, raw)
        if annotation.startswith("bool"):
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError("expected true/false")
            return lowered in {"1", "true", "yes", "on"}
        if annotation.startswith("int"):
            return int(raw)
        if annotation.startswith("float"):
            return float(raw)
    except (ValueError, OSError) as exc:
        raise ConfigError(f"{var}={raw!r} is invalid: {exc}") from None
    return raw


def _service_map(var: str, raw: str) -> dict[str, str]:
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    data = json.loads(text)
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{var} must be a JSON object of service name -> base URL")
    return {k: v.rstrip("/") for k, v in data.items()}
