"""The one place the gateway turns its config into resilience: ``resilience.policy.PolicyRegistry``
(fallback → retry → breaker → per-attempt timeout, per upstream), with the gateway's defaults.

The gateway's defaults (under the file's own ``defaults``) make its "this request is wrong"
errors (:class:`~resilience.retry.NonRetryableError`: an upstream 404 or other 4xx) neutral for
breakers; retries and fallbacks already pass them through.
"""

from __future__ import annotations

from collections.abc import Mapping

from resilience.fallback import Toggles
from resilience.policy import PolicyConfigError, PolicyRegistry
from stubs.gateway.config import ConfigError, GatewayConfig

__all__ = ["GATEWAY_DEFAULTS", "STRATEGY_LABELS", "build_policies"]

GATEWAY_DEFAULTS = {"ignore_exceptions": ["resilience.retry.NonRetryableError"]}
"""Breaker defaults the config's ``defaults`` section extends (a client error is not an outage)."""

STRATEGY_LABELS = {"LastKnownGoodFallback": "last_known_good", "DefaultValueFallback": "default"}
"""How a served fallback is named in the ``X-Fallback`` header and the ``fallbacks`` body field."""


def build_policies(config: GatewayConfig, *, environ: Mapping[str, str] | None = None) -> PolicyRegistry:
    """Every upstream's policy; ``environ`` supplies ``RESILIENCE__...`` overrides (default: os.environ).

    Each gateway gets its own :class:`~resilience.fallback.Toggles`, so gateways sharing a process
    (tests) do not force each other's fallbacks.
    """
    mapping = {
        "defaults": {**GATEWAY_DEFAULTS, **config.defaults},
        "services": config.services,
        "toggles": config.toggles,
    }
    try:
        return PolicyRegistry.from_config(
            mapping, where=config.source, environ=environ, ignore_keys={"url"}, toggles=Toggles()
        )
    except PolicyConfigError as error:
        raise ConfigError(str(error)) from None
