"""Probes: what the runner learns about the system, over HTTP only.

* ``http``: one request; a :class:`~harness.measure.Sample` whose ``ok`` says the expectations held
  (status, body text, JSON paths, latency) and whose ``fallback`` says the answer was degraded (an
  ``X-Fallback`` header or ``"degraded": true`` in the JSON body).
* ``breaker``: a breaker's state (lower case: ``closed``, ``open``, ``half_open``, ``forced_open``)
  from ``/resilience/breakers``.
* ``dlq``: a number from the DLQ's ``/stats`` (dotted ``field``).
* ``metric``: a Prometheus sample, summed over series whose labels match.

A :class:`Sampler` runs one probe on its own thread every ``every`` seconds (back to back when a
request takes longer), so a slow probe never delays another or the fault schedule.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from harness.gates import SeriesPoint
from harness.measure import Sample
from harness.scenario import BreakerProbe, DlqProbe, Expect, HttpProbe, MetricProbe, Probe

__all__ = ["FALLBACK_HEADER", "MAX_IN_FLIGHT", "Reading", "Sampler", "dig", "probe_once", "resolve_url"]

FALLBACK_HEADER = "x-fallback"
MAX_IN_FLIGHT = 32
"""Most requests one HTTP probe has waiting at once; further ticks are skipped (and counted)."""
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Reading:
    """One probe result: ``ok`` (expectations held), a one-line ``detail``, and either an HTTP
    ``sample`` or a ``value`` (number or state) for the other kinds."""

    ok: bool
    detail: str
    sample: Sample | None = None
    value: float | str | None = None


def resolve_url(spec: HttpProbe | BreakerProbe | DlqProbe | MetricProbe, services: Mapping[str, str]) -> str:
    if isinstance(spec, HttpProbe) and spec.url:
        return spec.url
    if spec.service not in services:
        raise KeyError(f"service {spec.service!r} is not running; running: {sorted(services)}")
    return services[spec.service].rstrip("/") + "/" + spec.path.lstrip("/")


def dig(data: Any, path: str) -> Any:
    """``data`` at a dotted path such as ``breakers.weather.state`` or ``items[0].id`` (``$.`` optional).

    Raises ``LookupError`` naming the first missing part.
    """
    current = data
    for name, index in _PATH_PART.findall(path.removeprefix("$").lstrip(".")):
        try:
            current = current[int(index)] if index else current[name]
        except (KeyError, IndexError, TypeError):
            raise LookupError(f"no {name or f'[{index}]'!r} at {path!r}") from None
    return current


def _value_holds(value: float | str | None, expect: Expect) -> tuple[bool, str]:
    if value is None:
        return False, "no value"
    problems = []
    if expect.equals is not None and value != expect.equals:
        problems.append(f"expected {expect.equals!r}")
    if expect.one_of is not None and value not in expect.one_of:
        problems.append(f"expected one of {expect.one_of!r}")
    if isinstance(value, float):
        if expect.min is not None and value < expect.min:
            problems.append(f"expected >= {expect.min:g}")
        if expect.max is not None and value > expect.max:
            problems.append(f"expected <= {expect.max:g}")
    return not problems, f"{value!r}" + (f" ({'; '.join(problems)})" if problems else "")


def _http(name: str, spec: HttpProbe, expect: Expect, client: httpx.Client, url: str, t: float) -> Reading:
    started = time.perf_counter()
    try:
        response = client.request(
            spec.method, url, headers=spec.headers, json=spec.body, timeout=spec.timeout
        )
    except httpx.HTTPError as exc:
        latency = (time.perf_counter() - started) * 1000
        detail = f"{type(exc).__name__}: {exc or 'no answer'}"
        return Reading(False, detail, Sample(t, name, latency, False, None, False))
    latency = (time.perf_counter() - started) * 1000
    body: Any = None
    try:
        body = response.json()
    except ValueError:
        body = None
    fallback = FALLBACK_HEADER in response.headers or (
        isinstance(body, dict) and body.get("degraded") is True
    )
    problems = []
    statuses = expect.statuses()
    if (statuses is None and response.status_code >= 400) or (
        statuses is not None and response.status_code not in statuses
    ):
        problems.append(f"status {response.status_code}" + (f", expected {statuses}" if statuses else ""))
    if expect.body_contains is not None and expect.body_contains not in response.text:
        problems.append(f"body lacks {expect.body_contains!r}")
    for path, wanted in expect.json_paths.items():
        try:
            found = dig(body, path)
        except LookupError as exc:
            problems.append(str(exc) if body is not None else "body is not JSON")
            continue
        if found != wanted:
            problems.append(f"{path} = {found!r}, expected {wanted!r}")
    if expect.max_latency_ms is not None and latency > expect.max_latency_ms:
        problems.append(f"{latency:.0f} ms > {expect.max_latency_ms:g} ms")
    detail = f"{response.status_code} in {latency:.0f} ms" + (f": {'; '.join(problems)}" if problems else "")
    sample = Sample(t, name, latency, not problems, response.status_code, fallback)
    return Reading(not problems, detail, sample)


def _get_json(client: httpx.Client, url: str, headers: Mapping[str, str] | None = None) -> Any:
    response = client.get(url, headers=headers)
    response.raise_for_status()
    return response.json()


def _breaker(spec: BreakerProbe, client: httpx.Client, url: str) -> float | str | None:
    data = _get_json(client, url)
    breakers = data.get("breakers", data) if isinstance(data, dict) else {}
    entry = breakers.get(spec.name) if isinstance(breakers, dict) else None
    if entry is None:
        known = sorted(breakers) if isinstance(breakers, dict) else []
        raise LookupError(f"no breaker {spec.name!r}; known: {known}")
    state = entry.get("state") if isinstance(entry, dict) else entry
    return str(state).lower()


def _dlq(spec: DlqProbe, client: httpx.Client, url: str) -> float | str | None:
    headers = {"X-API-Key": spec.api_key} if spec.api_key else None
    value = dig(_get_json(client, url, headers), spec.field)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _metric(spec: MetricProbe, client: httpx.Client, url: str) -> float | str | None:
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get(url)
    response.raise_for_status()
    total, found = 0.0, False
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == spec.name and all(sample.labels.get(k) == v for k, v in spec.labels.items()):
                if not math.isnan(sample.value):
                    total += sample.value
                found = True
    if not found:
        # a counter nobody incremented yet is absent, which for a counter means zero
        return 0.0
    return total


_VALUE_READERS: dict[str, Callable[[Any, httpx.Client, str], float | str | None]] = {
    "breaker": _breaker,
    "dlq": _dlq,
    "metric": _metric,
}


def probe_once(
    name: str, probe: Probe, services: Mapping[str, str], client: httpx.Client, t: float
) -> Reading:
    """Run ``probe`` once; never raises for what the system under test does (that is a failed reading)."""
    spec = getattr(probe, probe.kind)
    try:
        url = resolve_url(spec, services)
    except KeyError as exc:
        return Reading(False, str(exc.args[0]))
    if isinstance(spec, HttpProbe):
        return _http(name, spec, probe.expect, client, url, t)
    try:
        value = _VALUE_READERS[probe.kind](spec, client, url)
    except (httpx.HTTPError, LookupError, ValueError, AttributeError) as exc:
        return Reading(False, f"{type(exc).__name__}: {exc}")
    ok, detail = _value_holds(value, probe.expect)
    return Reading(ok, detail, value=value)


class Sampler:
    """Sends one probe every ``probe.every`` seconds on a fixed schedule until :meth:`stop`.

    Open loop: a slow answer does not delay the next request (up to :data:`MAX_IN_FLIGHT` at once),
    so a stalled upstream cannot hide its own latency by thinning the samples (coordinated
    omission). Value probes (breaker, DLQ, metric) read one at a time. HTTP readings become samples,
    other kinds series points; ``t`` is ``clock() - t0`` at send time.
    """

    def __init__(
        self,
        name: str,
        probe: Probe,
        services: Mapping[str, str],
        t0: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.probe = probe
        self._services = dict(services)
        self._t0 = t0
        self._clock = clock
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self._points: list[SeriesPoint] = []
        self.skipped = 0
        """Ticks with no request sent because :data:`MAX_IN_FLIGHT` were still waiting."""
        self._in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT if probe.kind == "http" else 1)
        self._workers: list[threading.Thread] = []
        self._thread = threading.Thread(target=self._loop, name=f"probe-{name}", daemon=True)

    def start(self) -> Sampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; wait (at most the probe's timeout) for requests still in flight."""
        self._stop.set()
        deadline = self._clock() + self._timeout() + 2
        for thread in [self._thread, *self._workers]:
            thread.join(timeout=max(0.0, deadline - self._clock()))

    def _timeout(self) -> float:
        return self.probe.http.timeout if self.probe.http else 5.0

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    def points(self) -> list[SeriesPoint]:
        with self._lock:
            return list(self._points)

    def _read(self, client: httpx.Client, t: float) -> None:
        try:
            reading = probe_once(self.name, self.probe, self._services, client, t)
            with self._lock:
                if reading.sample is not None:
                    self._samples.append(reading.sample)
                else:
                    self._points.append(SeriesPoint(t, reading.value, reading.value is not None))
        finally:
            self._in_flight.release()

    def _loop(self) -> None:
        limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
        with httpx.Client(trust_env=False, timeout=self._timeout(), limits=limits) as client:
            next_at = self._clock()
            while not self._stop.is_set():
                if self._in_flight.acquire(blocking=False):
                    t = self._clock() - self._t0
                    worker = threading.Thread(target=self._read, args=(client, t), daemon=True)
                    self._workers = [w for w in self._workers if w.is_alive()] + [worker]
                    worker.start()
                else:
                    self.skipped += 1
                next_at = max(next_at + self.probe.every, self._clock())
                self._stop.wait(max(0.0, next_at - self._clock()))
            for worker in self._workers:  # the client closes when they are done
                worker.join(timeout=self._timeout() + 1)
