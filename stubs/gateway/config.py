"""The gateway's configuration: the seed's per-service ConfigMap, extended, from JSON or YAML.

::

    {"services": {
        "weather-service": {
            "url": "http://127.0.0.1:18082",            # where the upstream (or its proxy) listens
            "failure_threshold": 3, "recovery_timeout": 3,  # breaker (any BreakerConfig option)
            "timeout": 1.0,                               # seconds per attempt, body included
            "retry": {"max_attempts": 3, "base_delay": 0.05, "max_delay": 0.5, "timeout": 2.5},
            "fallback": {"strategy": "last_known_good", "ttl": 300, "default": {...}}}},
     "dlq": {"url": "http://127.0.0.1:8000", "api_key": null, "spool_path": null},
     "max_body_bytes": 65536}                            # larger request bodies: 413

Upstream URLs and the DLQ can be overridden without editing the file (precedence: arguments, then
environment ``GATEWAY_UPSTREAMS="name=url,name=url"``, ``GATEWAY_DLQ_URL``, ``DLQ_API_KEY``, then a
service registry (``GATEWAY_REGISTRY_URL``), then the file), which is how the harness points the
gateway at Toxiproxy proxies.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resilience.registry import load_config_file
from stubs._http import tls_context

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_MAX_BODY_BYTES",
    "REQUIRED_UPSTREAMS",
    "ConfigError",
    "DLQSettings",
    "GatewayConfig",
    "discover_upstreams",
    "load_config",
    "parse_upstreams",
]

DEFAULT_CONFIG_PATH = Path(__file__).with_name("default-config.json")
REQUIRED_UPSTREAMS = ("user-service", "weather-service", "prediction-service", "processing-service")
DEFAULT_MAX_BODY_BYTES = 64 * 1024


class ConfigError(ValueError):
    """The configuration is unusable; the message names the file and the key."""


class DLQSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    """DLQ service base URL; ``None`` means jobs that fail are answered 503, not dead-lettered."""
    api_key: str | None = None
    spool_path: str | None = None
    """Local durable spool used when the DLQ itself is unreachable."""


class GatewayConfig(BaseModel):
    """``services`` maps each upstream name to its policy section (``url`` plus policy keys)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: dict[str, dict[str, Any]]
    defaults: dict[str, Any] = Field(default_factory=dict)
    """Policy options every service inherits (see ``resilience.policy``)."""
    toggles: dict[str, Any] | None = None
    """Run-time fallback switches (``force_fallback``, ``disabled_features``)."""
    dlq: DLQSettings = Field(default_factory=DLQSettings)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1, le=64 * 1024 * 1024)
    """Largest request body the gateway reads (a job is a few hundred bytes); above it, 413
    ``PAYLOAD_TOO_LARGE`` before the body is parsed."""
    source: str = "config"
    """Where the configuration came from; error messages start with it."""

    def url(self, service: str) -> str:
        return str(self.services[service]["url"])


def parse_upstreams(items: str | list[str] | tuple[str, ...]) -> dict[str, str]:
    """``"a=http://x,b=http://y"`` or ``["a=http://x", ...]`` to ``{"a": "http://x", ...}``."""
    parts = items.split(",") if isinstance(items, str) else list(items)
    result: dict[str, str] = {}
    for part in (p.strip() for p in parts):
        if not part:
            continue
        name, sep, url = part.partition("=")
        if not sep or not name.strip() or not url.strip().startswith(("http://", "https://")):
            raise ConfigError(f"upstream override {part!r} must look like NAME=http://HOST:PORT")
        result[name.strip()] = url.strip().rstrip("/")
    return result


def discover_upstreams(registry_url: str, names: Iterable[str], *, timeout: float = 5.0) -> dict[str, str]:
    """Base URL of the first instance of each of ``names`` that the catalogue at ``registry_url`` lists
    (``GET /v1/catalog/service/{name}``, Consul's shape); unlisted names are left out."""
    found: dict[str, str] = {}
    with httpx.Client(base_url=registry_url.rstrip("/"), timeout=timeout, verify=tls_context()) as client:
        for name in sorted(names):
            try:
                response = client.get(f"/v1/catalog/service/{name}")
                response.raise_for_status()
                entries = response.json()
                if entries:
                    entry = entries[0]
                    found[name] = (
                        f"http://{entry.get('ServiceAddress') or entry['Address']}:{entry['ServicePort']}"
                    )
            except (httpx.HTTPError, ValueError, LookupError, TypeError) as error:
                raise ConfigError(
                    f"service registry {registry_url}: cannot look up {name!r}: {error}"
                ) from None
    return found


def load_config(
    path: str | Path | None = None,
    *,
    upstreams: Mapping[str, str] | None = None,
    dlq_url: str | None = None,
    dlq_api_key: str | None = None,
    registry_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> GatewayConfig:
    """Read ``path`` (default: the shipped ``default-config.json``) and apply the overrides.

    With ``registry_url`` (or ``GATEWAY_REGISTRY_URL``), each configured service that no explicit
    override names is looked up once, now, in that Consul-compatible catalogue; a service the
    registry does not list keeps the file's URL.
    """
    env = os.environ if environ is None else environ
    source = Path(path) if path is not None else DEFAULT_CONFIG_PATH
    try:
        raw = load_config_file(source)
    except OSError as error:
        raise ConfigError(f"cannot read gateway config {source}: {error.strerror or error}") from None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    overrides = {**parse_upstreams(env.get("GATEWAY_UPSTREAMS", "")), **(upstreams or {})}
    services = raw.get("services")
    registry_url = registry_url or env.get("GATEWAY_REGISTRY_URL")
    if registry_url and isinstance(services, dict):
        overrides = {**discover_upstreams(registry_url, set(services) - set(overrides)), **overrides}
    if isinstance(services, dict):
        unknown = sorted(set(overrides) - set(services) - set(REQUIRED_UPSTREAMS))
        if unknown:
            known = sorted({*services, *REQUIRED_UPSTREAMS})
            raise ConfigError(f"upstream override for unknown service(s) {unknown}; known: {known}")
        raw["services"] = {
            name: {**section, "url": overrides[name]}
            if name in overrides and isinstance(section, dict)
            else section
            for name, section in services.items()
        }
    dlq = dict(raw.get("dlq") or {})
    dlq_url = dlq_url or env.get("GATEWAY_DLQ_URL")
    dlq_api_key = dlq_api_key or env.get("DLQ_API_KEY")
    if dlq_url:
        dlq["url"] = dlq_url
    if dlq_api_key:
        dlq["api_key"] = dlq_api_key
    raw["dlq"] = dlq
    raw["source"] = str(source)
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{source}: {problems}") from None
    if config.dlq.url is not None and not config.dlq.url.startswith(("http://", "https://")):
        raise ConfigError(
            f"{source}: dlq.url (--dlq-url, GATEWAY_DLQ_URL) must be an http(s) URL, got {config.dlq.url!r}"
        )
    for name in REQUIRED_UPSTREAMS:
        section = config.services.get(name)
        if section is None:
            raise ConfigError(f"{source}: services.{name} is missing (the gateway calls it)")
        url = section.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{source}: services.{name}.url must be an http(s) URL, got {url!r}")
    return config
