"""Scenario files: YAML in, a validated :class:`Scenario` out, every error located at file:line:column.

A scenario names what to start (``target``), the Toxiproxy ``proxies`` in front of upstreams, the
``probes`` sampled on a clock, the ``steady_state`` hypothesis (probes that must hold before the
faults and after recovery), timed ``phases`` each with its ``faults``, optional ``load`` and the
``gates`` that decide the verdict. The format is versioned (``version: 1``); ``scenarios/README.md``
documents it and :func:`json_schema` gives editors a JSON Schema.

Variables: ``${NAME}`` or ``${NAME:-default}`` inside any string value is replaced from ``--var
NAME=value`` first, then the environment. A plain (unquoted) scalar is re-typed after substitution,
so ``latency: ${LAT:-500}`` is the integer 500.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

from harness.load.spec import LoadSpec
from stubs.behaviour import Behaviour

__all__ = [
    "FORMAT_VERSION",
    "TOXIC_ATTRIBUTES",
    "BreakerGate",
    "BreakerProbe",
    "DlqProbe",
    "DownFault",
    "ErrorRateGate",
    "Expect",
    "FallbackRateGate",
    "Fault",
    "Gate",
    "HttpProbe",
    "LatencyGate",
    "LatencyRatioGate",
    "MetricProbe",
    "Phase",
    "Platform",
    "Probe",
    "Problem",
    "ProxySpec",
    "RecoveryGate",
    "Scenario",
    "ScenarioError",
    "StubFault",
    "Target",
    "ToxicFault",
    "ValueGate",
    "find_scenarios",
    "json_schema",
    "load_scenario",
    "parse_scenario",
    "parse_vars",
]

FORMAT_VERSION = 1

TOXIC_ATTRIBUTES: dict[str, frozenset[str]] = {
    "latency": frozenset({"latency", "jitter"}),
    "bandwidth": frozenset({"rate"}),
    "slow_close": frozenset({"delay"}),
    "timeout": frozenset({"timeout"}),
    "reset_peer": frozenset({"timeout"}),
    "slicer": frozenset({"average_size", "size_variation", "delay"}),
    "limit_data": frozenset({"bytes"}),
}
"""Toxiproxy's toxic types and their attributes (integers: ms, KB/s or bytes, per type)."""

_Seconds = Annotated[float, Field(gt=0, le=3600)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- target and proxies


class Platform(enum.Enum):
    """``builtin``: the harness starts the stub upstreams and the gateway. ``external``: your services."""

    BUILTIN = "builtin"
    EXTERNAL = "external"


class Target(_Model):
    """What the runner starts (builtin) or where your services already run (external)."""

    platform: Platform = Platform.BUILTIN
    services: list[str] | None = Field(
        None, description="Built-in stub upstreams to start; all of them by default."
    )
    gateway: bool = Field(True, description="Start the built-in gateway (system under test).")
    dlq: bool = Field(False, description="Start the DLQ service (SQLite in the run's folder).")
    gateway_args: list[str] = Field(
        default_factory=list, description="Extra command-line arguments for the built-in gateway."
    )
    urls: dict[str, str] = Field(
        default_factory=dict,
        description="External platform: base URLs by name (`gateway` is the default for probes).",
    )
    ready_timeout: _Seconds = Field(30.0, description="Seconds to wait for started services to answer.")

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if self.platform is Platform.EXTERNAL and "gateway" not in self.urls:
            raise ValueError("an external target needs urls.gateway (the base URL probes use)")
        return self


class ProxySpec(_Model):
    """A Toxiproxy proxy. ``upstream``: a built-in service name (builtin) or ``host:port``."""

    upstream: str
    listen: str = Field("127.0.0.1:0", description="Listen address; port 0 picks a free one.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        """``weather: weather-service`` means ``weather: {upstream: weather-service}``."""
        return {"upstream": data} if isinstance(data, str) else data


# --------------------------------------------------------------------------- probes


class Expect(_Model):
    """What a probe must see to hold. HTTP probes: status, body and JSON paths; others: a value."""

    status: int | list[int] | None = Field(None, description="Accepted status(es); default: below 400.")
    body_contains: str | None = None
    json_paths: dict[str, Any] = Field(
        default_factory=dict,
        alias="json",
        description="Dotted paths into the JSON body (`data.items[0].id`) and the value each must equal.",
    )
    max_latency_ms: float | None = Field(None, gt=0)
    equals: Any = None
    one_of: list[Any] | None = None
    min: float | None = None
    max: float | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def statuses(self) -> list[int] | None:
        return [self.status] if isinstance(self.status, int) else self.status


class HttpProbe(_Model):
    """An HTTP request: each one is a sample (latency, ok, status, fallback) of route ``<probe name>``."""

    url: str | None = Field(None, description="Absolute URL; or use `path` on `service`.")
    path: str = "/"
    service: str = Field(
        "gateway",
        description="Which service `path` is relative to: gateway, dlq, a built-in upstream, a name in "
        "target.urls, or proxy:<name> (straight through a proxy).",
    )
    method: Literal["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = Field(None, description="JSON body to send.")
    timeout: _Seconds = 5.0


class BreakerProbe(_Model):
    """The state of one circuit breaker, read from the gateway's ``/resilience/breakers``."""

    name: str
    service: str = "gateway"
    path: str = "/resilience/breakers"


class DlqProbe(_Model):
    """A number from the DLQ service's ``/stats`` (``field``, dotted, e.g. ``depth``)."""

    field: str = "depth"
    service: str = "dlq"
    path: str = "/stats"
    api_key: str | None = None


class MetricProbe(_Model):
    """A Prometheus sample: ``name`` with matching ``labels``, summed over matching series."""

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    service: str = "gateway"
    path: str = "/metrics"


class Probe(_Model):
    """Exactly one of ``http``, ``breaker``, ``dlq``, ``metric``; sampled every ``every`` seconds."""

    http: HttpProbe | None = None
    breaker: BreakerProbe | None = None
    dlq: DlqProbe | None = None
    metric: MetricProbe | None = None
    every: float = Field(0.2, ge=0.02, le=60, description="Seconds between samples.")
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _exactly_one(self) -> Probe:
        kinds = [k for k in ("http", "breaker", "dlq", "metric") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                f"a probe needs exactly one of http, breaker, dlq, metric (got {kinds or 'none'})"
            )
        if kinds[0] != "http":
            http_only = [k for k in ("status", "body_contains", "max_latency_ms") if getattr(self.expect, k)]
            if http_only or self.expect.json_paths:
                raise ValueError(f"expect.{(http_only or ['json'])[0]} only applies to http probes")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("http", "breaker", "dlq", "metric") if getattr(self, k) is not None)


# --------------------------------------------------------------------------- faults


class ToxicFault(_Model):
    """Any Toxiproxy toxic on a proxy for the phase."""

    toxic: str = Field(description=f"Toxic type: {', '.join(TOXIC_ATTRIBUTES)}.")
    proxy: str
    stream: Literal["downstream", "upstream"] = "downstream"
    toxicity: float = Field(1.0, ge=0, le=1)
    attributes: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known(self) -> ToxicFault:
        if self.toxic not in TOXIC_ATTRIBUTES:
            raise ValueError(f"unknown toxic {self.toxic!r}; known: {', '.join(TOXIC_ATTRIBUTES)}")
        unknown = sorted(set(self.attributes) - TOXIC_ATTRIBUTES[self.toxic])
        if unknown:
            allowed = ", ".join(sorted(TOXIC_ATTRIBUTES[self.toxic]))
            raise ValueError(f"toxic {self.toxic!r} has no attribute(s) {unknown}; it has: {allowed}")
        negative = [k for k, v in self.attributes.items() if v < 0]
        if negative:
            raise ValueError(f"toxic attributes must not be negative: {negative}")
        return self

    def describe(self) -> str:
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{self.toxic}({attrs}) on proxy {self.proxy} [{self.stream}, toxicity {self.toxicity:g}]"


class DownFault(_Model):
    """The proxy stops listening: connects are refused (Toxiproxy ``enabled: false``)."""

    down: str = Field(description="Proxy name.")

    def describe(self) -> str:
        return f"proxy {self.down} down"


class StubFault(_Model):
    """An HTTP-level behaviour of a built-in stub (see ``stubs.behaviour.Behaviour``)."""

    stub: str = Field(description="Built-in service name, e.g. weather-service.")
    behaviour: Behaviour

    def describe(self) -> str:
        fields = self.behaviour.model_dump(mode="json", exclude_defaults=True)
        return f"stub {self.stub}: " + ", ".join(f"{k}={v}" for k, v in fields.items())


def _fault_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, tag in (("toxic", "toxic-fault"), ("down", "down-fault"), ("stub", "stub-fault")):
            if key in value:
                return tag
    elif isinstance(value, BaseModel):
        return {ToxicFault: "toxic-fault", DownFault: "down-fault", StubFault: "stub-fault"}.get(type(value))
    return None


Fault = Annotated[
    Annotated[ToxicFault, Tag("toxic-fault")]
    | Annotated[DownFault, Tag("down-fault")]
    | Annotated[StubFault, Tag("stub-fault")],
    Discriminator(
        _fault_kind,
        custom_error_type="fault_kind",
        custom_error_message="a fault needs one of the keys toxic, down or stub",
    ),
]


class Phase(_Model):
    """A timed stretch; its faults are applied at its start and removed at its end."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    duration: _Seconds
    faults: list[Fault] = Field(default_factory=list)


# --------------------------------------------------------------------------- gates


class _GateBase(_Model):
    name: str | None = Field(None, description="Shown in reports; generated when absent.")
    abort: bool = Field(False, description="Stop the run early (faults removed first) once clearly breached.")


class LatencyGate(_GateBase):
    """Percentile latency of ``route`` during ``phase`` at most ``max_ms``."""

    kind: Literal["latency"]
    route: str | None = Field(None, description="Probe name or load route; all HTTP samples when absent.")
    phase: str
    percentile: float = Field(95, ge=0, le=100)
    max_ms: float = Field(gt=0)


class LatencyRatioGate(_GateBase):
    """Percentile latency during ``phase`` at most ``max_factor`` times the ``baseline`` phase's."""

    kind: Literal["latency_ratio"]
    route: str | None = None
    phase: str
    baseline: str | None = Field(None, description="Phase to compare with; the first phase by default.")
    percentile: float = Field(95, ge=0, le=100)
    max_factor: float = Field(gt=0)


class ErrorRateGate(_GateBase):
    """Share of failed samples of ``route`` during ``phase`` at most ``max`` (0..1)."""

    kind: Literal["error_rate"]
    route: str | None = None
    phase: str
    max: float = Field(ge=0, le=1)


class FallbackRateGate(_GateBase):
    """Share of fallback (degraded) answers during ``phase`` within ``min``..``max``."""

    kind: Literal["fallback_rate"]
    route: str | None = None
    phase: str
    min: float | None = Field(None, ge=0, le=1)
    max: float | None = Field(None, ge=0, le=1)

    @model_validator(mode="after")
    def _bounded(self) -> FallbackRateGate:
        if self.min is None and self.max is None:
            raise ValueError("a fallback_rate gate needs min and/or max")
        return self


class BreakerGate(_GateBase):
    """The breaker ``probe`` showed state ``reached`` (default open) at least once during ``phase``."""

    kind: Literal["breaker"]
    probe: str
    phase: str
    reached: Literal["open", "closed", "half_open"] = "open"


class ValueGate(_GateBase):
    """A number probe (DLQ depth, a metric) aggregated over ``phase`` within ``min``..``max``."""

    kind: Literal["value"]
    probe: str
    phase: str
    aggregate: Literal["max", "min", "last", "mean"] = "max"
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _bounded(self) -> ValueGate:
        if self.min is None and self.max is None:
            raise ValueError("a value gate needs min and/or max")
        return self


class RecoveryGate(_GateBase):
    """After ``after`` ends, ``route`` is back within tolerance of baseline within ``within_s`` seconds.

    Recovery time = from the end of ``after`` to the start of the first ``window_s``-second window
    (at least 3 samples) with no error, no fallback and a median latency at most
    ``max(tolerance * baseline p95, baseline p95 + slack_ms)``.
    """

    kind: Literal["recovery"]
    route: str | None = None
    after: str
    baseline: str | None = None
    within_s: float = Field(gt=0)
    tolerance: float = Field(2.0, ge=1)
    slack_ms: float = Field(50.0, ge=0)
    window_s: float = Field(1.0, gt=0, le=60, description="Length of the healthy window, seconds.")


Gate = Annotated[
    LatencyGate
    | LatencyRatioGate
    | ErrorRateGate
    | FallbackRateGate
    | BreakerGate
    | ValueGate
    | RecoveryGate,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- the scenario


class Scenario(_Model):
    """A chaos experiment: what to start, what to break when, and what must hold."""

    version: Literal[1] = Field(description="Format version; this harness reads version 1.")
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int | None = Field(None, description="Seed for stub randomness; the CLI's --seed wins.")
    target: Target = Field(default_factory=Target)
    proxies: dict[str, ProxySpec] = Field(default_factory=dict)
    probes: dict[str, Probe] = Field(default_factory=dict)
    steady_state: list[str] = Field(
        default_factory=list, description="Probe names that must hold before the faults and after recovery."
    )
    phases: list[Phase] = Field(min_length=1)
    load: LoadSpec | None = None
    gates: list[Gate] = Field(default_factory=list)

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.phases)

    def phase(self, name: str) -> Phase:
        return next(p for p in self.phases if p.name == name)


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file, where it is and what to do."""

    file: str
    line: int | None
    column: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """A scenario cannot be used; ``problems`` lists each located problem."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# --------------------------------------------------------------------------- YAML with marks

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_Path = tuple[str | int, ...]


def parse_vars(pairs: Sequence[str]) -> dict[str, str]:
    """``["k=v", ...]`` from the command line into a dict; raises ``ValueError`` naming a bad pair."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"--var expects NAME=value, got {pair!r}")
        out[key] = value
    return out


class _Located:
    """The composed YAML tree: marks by path, for errors, and the plain data."""

    def __init__(self, file: str, text: str, variables: Mapping[str, str]) -> None:
        self.file = file
        self.marks: dict[_Path, yaml.Mark] = {}
        self.key_marks: dict[_Path, yaml.Mark] = {}
        self.problems: list[Problem] = []
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                self.problems.append(Problem(file, 1, 1, "", "the file is empty; a scenario is a mapping"))
                self.data: Any = None
                return
            self._walk(loader, node, (), variables)
            if self.problems:
                self.data = None
                return
            self.data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
            line, col = _position(mark)
            lines = text.splitlines()
            if mark and mark.line < len(lines) and "${" in lines[mark.line] and "flow" in message:
                message += ' (inside {...} or [...] a ${VAR} must be quoted: "${VAR}")'
            self.problems.append(Problem(file, line, col, "", f"invalid YAML: {message}"))
            self.data = None
        finally:
            loader.dispose()

    def _walk(
        self, loader: yaml.SafeLoader, node: yaml.Node, path: _Path, variables: Mapping[str, str]
    ) -> None:
        self.marks[path] = node.start_mark
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            seen: dict[Any, yaml.Mark] = {}
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
                child = (*path, key)
                if key in seen:
                    first = seen[key]
                    self._problem(
                        key_node.start_mark,
                        child,
                        f"duplicate key (first defined on line {first.line + 1}); each key may appear once",
                    )
                seen[key] = key_node.start_mark
                self.key_marks[child] = key_node.start_mark
                self._walk(loader, value_node, child, variables)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._walk(loader, item, (*path, index), variables)
        elif isinstance(node, yaml.ScalarNode) and "${" in node.value:
            self._substitute(loader, node, path, variables)

    def _substitute(
        self, loader: yaml.SafeLoader, node: yaml.ScalarNode, path: _Path, variables: Mapping[str, str]
    ) -> None:
        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = variables.get(name, os.environ.get(name))
            if value is None:
                if default is None:
                    self._problem(
                        node.start_mark,
                        path,
                        f"variable ${{{name}}} is not set; pass --var {name}=... or set it in the "
                        f"environment, or write ${{{name}:-default}}",
                    )
                    return match.group(0)
                return default
            return value

        node.value = _VAR.sub(replace, node.value)
        if node.style is None:  # plain scalar: re-type ("500" -> int)
            node.tag = loader.resolve(yaml.ScalarNode, node.value, (True, False))

    def _problem(self, mark: yaml.Mark, path: _Path, message: str) -> None:
        self.problems.append(Problem(self.file, *_position(mark), _dotted(path), message))

    def locate(self, loc: Sequence[str | int], *, key: bool = False) -> tuple[_Path, yaml.Mark | None]:
        """The deepest existing node along a pydantic ``loc`` (unknown segments, e.g. union tags, skipped)."""
        path: _Path = ()
        for part in loc:
            candidate = (*path, part)
            if candidate in self.marks:
                path = candidate
        marks = self.key_marks if key and path in self.key_marks else self.marks
        return path, marks.get(path)


def _position(mark: yaml.Mark | None) -> tuple[int | None, int | None]:
    """1-based line and column of a YAML mark (PyYAML counts from 0)."""
    return (mark.line + 1, mark.column + 1) if mark else (None, None)


def _dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems_from_validation(doc: _Located, error: ValidationError) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        loc = [p for p in item["loc"] if isinstance(p, str | int)]
        is_key = item["type"] == "extra_forbidden"
        path, mark = doc.locate(loc, key=is_key)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "union_tag_invalid":
            ctx = item.get("ctx", {})
            kind = str(ctx.get("discriminator", "kind")).strip("'")
            message = f"unknown {kind} {ctx.get('tag')!r}; use one of: {ctx.get('expected_tags')}"
        elif item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling; `harness schema` lists every key)"
        elif item["type"] == "missing":
            missing = loc[-1]
            message = f"missing required key {missing!r}"
            path = tuple(loc)
        elif item["type"] in ("literal_error", "enum") or (
            "input" in item and not isinstance(item["input"], dict | list)
        ):
            message = f"{message} (got {item.get('input')!r})"
        line, col = _position(mark)
        problems.append(Problem(doc.file, line, col, _dotted(path) or "(top level)", message))
    return problems


def _reference_problems(scenario: Scenario) -> Iterator[tuple[_Path, str]]:
    """Names that must refer to something defined elsewhere in the file."""
    phases = [p.name for p in scenario.phases]
    seen: set[str] = set()
    for i, phase in enumerate(scenario.phases):
        if phase.name in seen:
            yield ("phases", i, "name"), f"duplicate phase name {phase.name!r}"
        seen.add(phase.name)
        for j, fault in enumerate(phase.faults):
            proxy = fault.proxy if isinstance(fault, ToxicFault) else getattr(fault, "down", None)
            if proxy is not None and proxy not in scenario.proxies:
                key = "proxy" if isinstance(fault, ToxicFault) else "down"
                yield (
                    ("phases", i, "faults", j, key),
                    f"unknown proxy {proxy!r}; defined: {sorted(scenario.proxies)}",
                )
            if isinstance(fault, StubFault) and scenario.target.platform is Platform.EXTERNAL:
                yield ("phases", i, "faults", j, "stub"), "stub faults need the builtin platform"
    for name in scenario.steady_state:
        if name not in scenario.probes:
            index = scenario.steady_state.index(name)
            yield ("steady_state", index), f"unknown probe {name!r}; defined: {sorted(scenario.probes)}"
    for i, gate in enumerate(scenario.gates):
        for field in ("phase", "baseline", "after"):
            value = getattr(gate, field, None)
            if value is not None and value not in phases:
                yield ("gates", i, field), f"unknown phase {value!r}; phases: {phases}"
        route = getattr(gate, "route", None)
        if route is not None and scenario.load is None and route not in scenario.probes:
            # Load routes are named by the locustfile, so they can only be checked without a load section.
            yield ("gates", i, "route"), f"unknown route {route!r}; probes: {sorted(scenario.probes)}"
        probe = getattr(gate, "probe", None)
        if probe is not None:
            if probe not in scenario.probes:
                yield ("gates", i, "probe"), f"unknown probe {probe!r}; defined: {sorted(scenario.probes)}"
            elif isinstance(gate, BreakerGate) and scenario.probes[probe].kind != "breaker":
                yield ("gates", i, "probe"), f"probe {probe!r} is not a breaker probe"
            elif isinstance(gate, ValueGate) and scenario.probes[probe].kind == "http":
                yield ("gates", i, "probe"), f"probe {probe!r} is an http probe; value gates read numbers"
        if isinstance(gate, LatencyRatioGate | RecoveryGate) and (gate.baseline or phases[0]) == (
            getattr(gate, "phase", None) or getattr(gate, "after", None)
        ):
            yield ("gates", i), "a gate cannot compare a phase with itself; set baseline to another phase"
    if scenario.target.platform is Platform.BUILTIN:
        from stubs.services import UPSTREAMS

        known = sorted(UPSTREAMS) + (["dlq"] if scenario.target.dlq else [])
        for name, proxy in scenario.proxies.items():
            if proxy.upstream not in known:
                yield ("proxies", name), f"unknown built-in upstream {proxy.upstream!r}; known: {known}"
    target = scenario.target
    services = {*target.urls, *(f"proxy:{name}" for name in scenario.proxies)}
    if target.platform is Platform.BUILTIN:
        from stubs.services import UPSTREAMS

        services |= set(target.services if target.services is not None else UPSTREAMS)
        services |= {name for name, on in (("gateway", target.gateway), ("dlq", target.dlq)) if on}
    for name, probe in scenario.probes.items():
        spec = getattr(probe, probe.kind)
        if not (isinstance(spec, HttpProbe) and spec.url) and spec.service not in services:
            hint = " (set target.dlq: true to start it)" if spec.service == "dlq" and not target.dlq else ""
            yield (
                ("probes", name, probe.kind, "service"),
                f"unknown service {spec.service!r}{hint}; known: {sorted(services)}",
            )


def parse_scenario(
    text: str, *, file: str = "<string>", variables: Mapping[str, str] | None = None
) -> Scenario:
    """Validate a scenario from YAML text; raises :class:`ScenarioError` with every located problem."""
    doc = _Located(file, text, variables or {})
    if doc.problems:
        raise ScenarioError(doc.problems)
    if not isinstance(doc.data, dict):
        mark = doc.marks.get(())
        line, col = _position(mark)
        got = type(doc.data).__name__
        raise ScenarioError([Problem(file, line, col, "", f"a scenario is a mapping of keys, got {got}")])
    try:
        scenario = Scenario.model_validate(doc.data)
    except ValidationError as exc:
        raise ScenarioError(_problems_from_validation(doc, exc)) from None
    problems = []
    for path, message in _reference_problems(scenario):
        _, mark = doc.locate(path)
        line, col = _position(mark)
        problems.append(Problem(file, line, col, _dotted(path), message))
    if problems:
        raise ScenarioError(problems)
    return scenario


def load_scenario(path: str | Path, variables: Mapping[str, str] | None = None) -> Scenario:
    """Read and validate one scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ScenarioError([Problem(str(path), None, None, "", f"cannot read the file: {reason}")]) from None
    return parse_scenario(text, file=str(path), variables=variables)


def find_scenarios(paths: Sequence[str | Path]) -> list[Path]:
    """Files named directly, plus ``*.yaml``/``*.yml`` under named folders (sorted; dot dirs skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        else:
            found.append(path)
    return found


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a scenario file (for editors: yaml-language-server, IDE plugins)."""
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Harness chaos scenario"
    return schema
