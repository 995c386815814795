"""Applying and removing faults, with a journal of each, and cleaning up after a killed run.

Faults are Toxiproxy toxics, a proxy taken down, or a stub behaviour. :class:`FaultInjector`
journals every apply and remove (:class:`~harness.result.JournalEntry`) and :meth:`~FaultInjector.
remove_all` removes whatever is still in force without ever raising, so the runner can call it from a
``finally`` whatever happened.

A run that was killed (SIGKILL, power loss) cannot clean up. Two traces let a later run do it:

* every proxy the harness creates is named ``harness-<pid>-<token>-<name>``: a proxy whose pid is no
  longer alive belongs to a dead run and is deleted (with its toxics) by :func:`clean_leftovers`;
* a state file ``<state_dir>/<token>.json`` records the run's Toxiproxy URL, proxies, stubs and child
  processes (gateway, DLQ, a ``toxiproxy-server`` it started); a later run deletes those proxies,
  resets those stubs and stops those processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from harness.plan import PlannedFault
from harness.result import JournalEntry
from harness.scenario import DownFault, StubFault, ToxicFault
from harness.toxiproxy.client import Proxy, ProxyNotFound, ToxicNotFound, ToxiproxyClient, ToxiproxyError
from stubs.control import StubControl, StubControlError

__all__ = [
    "PROXY_PREFIX",
    "FaultError",
    "FaultInjector",
    "RunState",
    "clean_leftovers",
    "proxy_name",
    "remove_state",
    "write_state",
]

PROXY_PREFIX = "harness-"
_OWNED = re.compile(r"^harness-(\d+)-([0-9a-f]+)-")
_CHILD_MARKERS = ("stubs.gateway", "resilience.dlq", "toxiproxy-server")


class FaultError(RuntimeError):
    """A fault could not be applied: the experiment would not test what it says."""


def proxy_name(token: str, name: str) -> str:
    return f"{PROXY_PREFIX}{os.getpid()}-{token}-{name}"


def _toxic_name(key: str) -> str:
    return PROXY_PREFIX + re.sub(r"[^A-Za-z0-9_.-]", "-", key)


class FaultInjector:
    """Applies planned faults to ``proxies`` (by scenario name) and ``stubs`` (by service name).

    ``now()`` gives journal times (seconds since t0); ``on_entry`` sees each entry as it is made.
    Stub behaviours without a ``seed`` get ``seed`` so a run is repeatable.
    """

    def __init__(
        self,
        proxies: Mapping[str, Proxy],
        stubs: Mapping[str, StubControl],
        *,
        seed: int,
        now: Callable[[], float],
        on_entry: Callable[[JournalEntry], None] = lambda entry: None,
    ) -> None:
        self._proxies = proxies
        self._stubs = stubs
        self._seed = seed
        self._now = now
        self._on_entry = on_entry
        self.journal: list[JournalEntry] = []
        self._active: dict[str, PlannedFault] = {}

    @property
    def active(self) -> list[str]:
        return list(self._active)

    def _record(self, action: str, planned: PlannedFault, error: str | None = None) -> JournalEntry:
        entry = JournalEntry(
            self._now(), action, planned.key, planned.phase, planned.description, error is None, error
        )
        self.journal.append(entry)
        self._on_entry(entry)
        return entry

    def apply(self, planned: PlannedFault) -> JournalEntry:
        """Apply one fault; raises :class:`FaultError` (after journalling it) when it cannot be applied."""
        fault = planned.fault
        self._active[planned.key] = planned  # first: an interruption mid-call must still remove it
        try:
            if isinstance(fault, ToxicFault):
                self._proxy(fault.proxy).add_toxic(
                    fault.toxic,
                    name=_toxic_name(planned.key),
                    stream=fault.stream,
                    toxicity=fault.toxicity,
                    **fault.attributes,
                )
            elif isinstance(fault, DownFault):
                self._proxy(fault.down).disable()
            elif isinstance(fault, StubFault):
                behaviour = fault.behaviour
                if behaviour.seed is None:
                    behaviour = behaviour.model_copy(update={"seed": self._seed})
                self._stub(fault.stub).set_behaviour(behaviour)
        except (ToxiproxyError, StubControlError, httpx.HTTPError, KeyError) as exc:
            message = str(exc.args[0]) if isinstance(exc, KeyError) else str(exc)
            self._active.pop(planned.key, None)
            self._record("apply", planned, message)
            raise FaultError(f"cannot apply {planned.description}: {message}") from None
        return self._record("apply", planned)

    def remove(self, planned: PlannedFault) -> JournalEntry | None:
        """Remove one fault if it is in force; never raises (a failure is journalled)."""
        if self._active.pop(planned.key, None) is None:
            return None
        fault = planned.fault
        try:
            if isinstance(fault, ToxicFault):
                with contextlib.suppress(ToxicNotFound, ProxyNotFound):
                    self._proxy(fault.proxy).remove_toxic(_toxic_name(planned.key))
            elif isinstance(fault, DownFault):
                with contextlib.suppress(ProxyNotFound):
                    self._proxy(fault.down).enable()
            elif isinstance(fault, StubFault):
                self._stub(fault.stub).clear_behaviour()
        except Exception as exc:  # removal must go on for the other faults, whatever this one did
            return self._record("remove", planned, f"{type(exc).__name__}: {exc}")
        return self._record("remove", planned)

    def remove_all(self) -> list[JournalEntry]:
        """Remove every fault still in force, newest first."""
        entries = [self.remove(p) for p in reversed(list(self._active.values()))]
        return [e for e in entries if e is not None]

    def _proxy(self, name: str) -> Proxy:
        if name not in self._proxies:
            raise KeyError(f"no proxy {name!r} was created")
        return self._proxies[name]

    def _stub(self, name: str) -> StubControl:
        if name not in self._stubs:
            raise KeyError(f"stub {name!r} is not running; running: {sorted(self._stubs)}")
        return self._stubs[name]


# --------------------------------------------------------------------------- leftovers of killed runs


@dataclass
class RunState:
    """What a run must undo if it dies; written to ``<state_dir>/<token>.json`` while it runs."""

    token: str
    pid: int
    toxiproxy_url: str | None = None
    toxiproxy_kind: str | None = None
    proxies: list[str] = field(default_factory=list)
    stubs: dict[str, str] = field(default_factory=dict)
    children: list[int] = field(default_factory=list)


def write_state(state_dir: Path, state: RunState) -> Path:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"{state.token}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state)), encoding="utf-8")
    tmp.replace(path)
    return path


def remove_state(state_dir: Path, token: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        (state_dir / f"{token}.json").unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return True


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def _stop_child(pid: int) -> bool:
    """SIGTERM ``pid`` only if it still is one of ours (gateway, DLQ, toxiproxy-server)."""
    if not any(marker in part for part in _cmdline(pid) for marker in _CHILD_MARKERS):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGTERM)
        return True
    return False


def _toxiproxy_server_pids(url: str) -> list[int]:
    """PIDs of ``toxiproxy-server`` processes serving ``url``'s port (a server a killed run started)."""
    port = str(urlsplit(url).port)
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            args = _cmdline(int(entry.name))
            at = args.index("-port") + 1 if "-port" in args else 0
            if args and args[0].endswith("toxiproxy-server") and at and args[at : at + 1] == [port]:
                pids.append(int(entry.name))
    return pids


def _delete_dead_proxies(client: ToxiproxyClient, only: set[str] | None = None) -> list[str]:
    cleaned = []
    for name, proxy in client.proxies().items():
        owner = _OWNED.match(name)
        if owner is None or (only is not None and name not in only) or _alive(int(owner.group(1))):
            continue
        toxics = len(proxy.toxics())
        with contextlib.suppress(ProxyNotFound):
            proxy.delete()
        cleaned.append(f"deleted leftover proxy {name} at {client.url} ({toxics} toxic(s))")
    return cleaned


def clean_leftovers(state_dir: Path | None, client: ToxiproxyClient | None) -> list[str]:
    """Undo what dead runs left behind; returns one sentence per thing cleaned. Never raises for
    an unreachable leftover (a Toxiproxy that died with its run has nothing left to clean)."""
    cleaned: list[str] = []
    for path in sorted(state_dir.glob("*.json")) if state_dir and state_dir.is_dir() else []:
        try:
            state = RunState(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            path.unlink(missing_ok=True)
            cleaned.append(f"removed unreadable state file {path.name}")
            continue
        if _alive(state.pid):
            continue  # a run in progress
        if state.toxiproxy_url:
            with (
                ToxiproxyClient(state.toxiproxy_url, timeout=2.0) as old,
                contextlib.suppress(ToxiproxyError),
            ):
                cleaned += _delete_dead_proxies(old, set(state.proxies))
            if state.toxiproxy_kind == "binary":
                for pid in _toxiproxy_server_pids(state.toxiproxy_url):
                    if _stop_child(pid):
                        cleaned.append(f"stopped orphaned toxiproxy-server (pid {pid})")
        for name, url in state.stubs.items():
            with (
                StubControl(url, timeout=2.0) as stub,
                contextlib.suppress(StubControlError, httpx.HTTPError),
            ):
                stub.clear_behaviour()
                cleaned.append(f"cleared the behaviour of stub {name} at {url}")
        for pid in state.children:
            if _alive(pid) and _stop_child(pid):
                cleaned.append(f"stopped orphaned process {pid} ({' '.join(_cmdline(pid)[:3])})")
        path.unlink(missing_ok=True)
    if client is not None:
        with contextlib.suppress(ToxiproxyError):
            cleaned += _delete_dead_proxies(client)
    return cleaned
