"""The runner's event catalogue: what a run reports as it goes, for progress displays and plugins.

Each event is a frozen dataclass whose fields are documented here. A listener is any callable taking
one event; :class:`Broadcaster` calls every listener in turn and logs and swallows a listener's
exception, so a broken progress display never stops a run (or its fault removal).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.gates import Verdict
from harness.measure import Stats

if TYPE_CHECKING:
    from harness.result import JournalEntry, ProbeCheck, RunResult

__all__ = [
    "Broadcaster",
    "EnvironmentReady",
    "Event",
    "FaultChanged",
    "GateBreached",
    "Listener",
    "PhaseStarted",
    "RunFinished",
    "RunStarted",
    "SteadyStateChecked",
    "Tick",
]

_log = logging.getLogger("harness.events")


@dataclass(frozen=True)
class RunStarted:
    """A run began: its id, scenario name, planned phase time (s) and seed."""

    run_id: str
    scenario: str
    duration_s: float
    seed: int


@dataclass(frozen=True)
class EnvironmentReady:
    """Everything is started. ``toxiproxy`` is ``kind: reason`` (or None when no proxy is used);
    ``services`` maps names to base URLs; ``cleaned`` lists leftovers of killed runs removed first."""

    toxiproxy: str | None
    services: dict[str, str]
    cleaned: tuple[str, ...]


@dataclass(frozen=True)
class SteadyStateChecked:
    """The hypothesis was checked ``before`` the faults or ``after`` recovery."""

    when: str
    checks: tuple[ProbeCheck, ...]


@dataclass(frozen=True)
class PhaseStarted:
    """Phase ``name`` runs over ``[start, end)`` seconds since t0; ``index`` counts from 0 of ``total``."""

    name: str
    index: int
    total: int
    start: float
    end: float


@dataclass(frozen=True)
class FaultChanged:
    """A fault was applied or removed (``entry.action``); ``entry.ok`` False when the call failed."""

    entry: JournalEntry


@dataclass(frozen=True)
class Tick:
    """About once a second: ``t`` since t0, the phase, statistics of the last second's HTTP samples
    (None when there were none) and the latest reading of each value probe."""

    t: float
    phase: str
    recent: Stats | None
    values: dict[str, float | str | None]


@dataclass(frozen=True)
class GateBreached:
    """An ``abort: true`` gate clearly failed mid-phase; the run stops after removing faults."""

    title: str
    detail: str


@dataclass(frozen=True)
class RunFinished:
    """The run is over and stopped; ``result`` is the document every report is built from."""

    result: RunResult
    verdicts: tuple[Verdict, ...]


Event = (
    RunStarted
    | EnvironmentReady
    | SteadyStateChecked
    | PhaseStarted
    | FaultChanged
    | Tick
    | GateBreached
    | RunFinished
)
Listener = Callable[[Event], None]


class Broadcaster:
    """Delivers events to listeners; a listener that raises is logged and skipped."""

    def __init__(self, listeners: Iterable[Listener] = ()) -> None:
        self._listeners = list(listeners)

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def emit(self, event: Event) -> None:
        for listener in self._listeners:
            try:
                listener(event)
            except Exception:
                _log.exception(
                    "progress listener %r failed on %s; the run goes on", listener, type(event).__name__
                )
