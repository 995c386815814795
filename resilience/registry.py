"""Named breakers built from the seed's per-service config, plus the config-file loader.

The file shape is the seed's, with every :class:`~resilience.breaker.BreakerConfig` option
available by name and an optional ``defaults`` section the services inherit from::

    {"defaults": {"sliding_window_type": "COUNT_BASED"},
     "services": {"weather-service": {"failure_threshold": 3, "recovery_timeout": 60}}}

Errors name the file and the dotted path of the offending key (``services.weather-service``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from resilience._clock import MONOTONIC, Clock
from resilience.breaker import BreakerConfig, BreakerListener, CircuitBreaker

__all__ = ["BreakerRegistry", "load_config_file"]

_TOP_LEVEL = ("defaults", "services")


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Parse a JSON (``.json``) or YAML (``.yaml``/``.yml``) file whose top level is a mapping.

    Raises :class:`ValueError` naming the file (and line and column when the parser knows them)
    on bad syntax, an unknown suffix or a non-mapping top level; a missing file raises
    :class:`FileNotFoundError`. PyYAML is imported only for YAML files.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(
            f"{path}: unsupported config file type {suffix or '(none)'!r}; use .json, .yaml or .yml"
        )
    text = path.read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    else:
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
            problem = getattr(exc, "problem", None) or str(exc)
            raise ValueError(f"{where}: invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping, got {type(data).__name__}")
    return data


class BreakerRegistry:
    """Get-or-create named breakers; thread-safe.

    ``configs`` maps a name to its config, and those breakers exist from the start; other names get
    ``default`` (the library defaults when not given) on first use. Every breaker shares ``clock``
    and ``listeners``; ``on_create`` is called with each new breaker (e.g.
    ``PrometheusBreakerMetrics().attach``). Iterating yields the breakers in creation order.
    """

    def __init__(
        self,
        configs: Mapping[str, BreakerConfig] | None = None,
        *,
        default: BreakerConfig | None = None,
        clock: Clock = MONOTONIC,
        listeners: Iterable[BreakerListener] = (),
        on_create: Callable[[CircuitBreaker], None] | None = None,
    ) -> None:
        self._configs = dict(configs or {})
        self._default = default or BreakerConfig()
        self._clock = clock
        self._listeners = tuple(listeners)
        self._on_create = on_create
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()
        for name in self._configs:
            self.breaker(name)

    @classmethod
    def from_config(
        cls,
        mapping: Mapping[str, Any],
        *,
        where: str = "config",
        ignore_keys: Collection[str] = (),
        clock: Clock = MONOTONIC,
        listeners: Iterable[BreakerListener] = (),
        on_create: Callable[[CircuitBreaker], None] | None = None,
    ) -> BreakerRegistry:
        """Build from the seed's shape (see the module docstring); ``where`` prefixes every error.

        ``ignore_keys`` are skipped inside ``defaults`` and every service (for configs that also
        carry other components' keys such as ``retry``).
        """
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{where}: expected a mapping, got {type(mapping).__name__}")
        unknown = sorted(set(mapping) - set(_TOP_LEVEL))
        if unknown:
            raise ValueError(
                f"{where}: unknown top-level key {unknown[0]!r} (expected 'services', 'defaults')"
            )
        default = BreakerConfig.from_mapping(
            mapping.get("defaults") or {}, where=f"{where}.defaults", ignore_keys=ignore_keys
        )
        services = mapping.get("services")
        if services is None:
            services = {}
        if not isinstance(services, Mapping):
            raise ValueError(
                f"{where}.services: expected a mapping of service names, got {type(services).__name__}"
            )
        configs = {}
        for name, section in services.items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"{where}.services: service names must be non-empty strings, got {name!r}")
            configs[name] = BreakerConfig.from_mapping(
                section or {}, where=f"{where}.services.{name}", ignore_keys=ignore_keys, base=default
            )
        return cls(configs, default=default, clock=clock, listeners=listeners, on_create=on_create)

    @classmethod
    def from_file(
        cls,
        path: str | Path,
        *,
        ignore_keys: Collection[str] = (),
        clock: Clock = MONOTONIC,
        listeners: Iterable[BreakerListener] = (),
        on_create: Callable[[CircuitBreaker], None] | None = None,
    ) -> BreakerRegistry:
        """:meth:`from_config` on :func:`load_config_file`; errors start with the file name."""
        return cls.from_config(
            load_config_file(path),
            where=str(path),
            ignore_keys=ignore_keys,
            clock=clock,
            listeners=listeners,
            on_create=on_create,
        )

    def config_for(self, name: str) -> BreakerConfig:
        """The config a breaker of this name has or would get."""
        return self._configs.get(name, self._default)

    def breaker(self, name: str, *, fallback_function: Callable[..., Any] | None = None) -> CircuitBreaker:
        """The breaker called ``name``, created on first use.

        ``fallback_function`` applies only when this call creates the breaker; later calls return
        the existing breaker unchanged.
        """
        with self._lock:
            breaker = self._breakers.get(name)
            if breaker is not None:
                return breaker
            breaker = CircuitBreaker(
                fallback_function=fallback_function,
                name=name,
                config=self.config_for(name),
                clock=self._clock,
                listeners=self._listeners,
            )
            self._breakers[name] = breaker
        if self._on_create is not None:
            self._on_create(breaker)
        return breaker

    def all(self) -> list[CircuitBreaker]:
        """The breakers created so far, in creation order."""
        with self._lock:
            return list(self._breakers.values())

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._breakers)

    def __contains__(self, name: object) -> bool:
        return name in self._breakers

    def __getitem__(self, name: str) -> CircuitBreaker:
        """An existing breaker; :class:`KeyError` if none of that name was created yet."""
        with self._lock:
            return self._breakers[name]
