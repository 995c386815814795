"""Drive Locust headless in child processes and collect its raw samples.

One blocking-friendly object per load run: :class:`LoadRun` starts Locust (one process, or one
master and N workers with ``--processes``), streams the samples its recorder writes, enforces the
request bound itself, and always stops the whole process group. The caller's process never imports
Locust, so its gevent patching cannot leak into pytest or the runner.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.load.spec import LoadSpec
from harness.measure import Sample

__all__ = ["LoadOutcome", "LoadRun"]

_RECORDER = Path(__file__).with_name("recorder.py")
_POLL_S = 0.25
_GRACE_S = 10.0


@dataclass(frozen=True)
class LoadOutcome:
    """What a load run did, beside what it measured: intended versus achieved rate, and why it ended."""

    intended_rps: float
    achieved_rps: float
    requests: int
    duration_s: float
    processes: int
    ended_by: str
    """``duration`` (ran its time), ``max_requests`` (hit the bound), or ``stopped`` (asked to)."""
    exit_code: int | None
    log_path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LoadRun:
    """One headless Locust run against ``host``, writing its files under ``out_dir``.

    Use as a context manager (stops on exit) or call :meth:`start`, then :meth:`wait` or
    :meth:`stop`. :meth:`samples` may be called at any time for the samples recorded so far,
    with ``t`` as absolute :func:`time.monotonic` seconds.
    """

    def __init__(self, spec: LoadSpec, host: str, out_dir: Path, *, duration: float | None = None) -> None:
        self.spec = spec
        self.host = host
        self.out_dir = Path(out_dir)
        self.duration = duration or spec.duration
        if self.duration is None:
            raise ValueError("a load run needs a duration: set load.duration or pass duration=")
        self._samples_dir = self.out_dir / "samples"
        self._log_path = self.out_dir / "locust.log"
        self._process: subprocess.Popen[bytes] | None = None
        self._offsets: dict[Path, int] = {}
        self._samples: list[Sample] = []
        self._lock = threading.Lock()
        self._ended_by = "duration"
        self._started_at = 0.0
        self._ended_at: float | None = None
        self._watcher: threading.Thread | None = None

    def command(self) -> list[str]:
        """The Locust command line this run executes (also shown in reports)."""
        assert self.duration is not None
        cmd = [
            sys.executable, "-m", "locust",
            "-f", f"{self.spec.locustfile},{_RECORDER}",
            "--headless", "--only-summary", "--skip-log-setup",
            "-u", str(self.spec.users), "-r", str(self.spec.spawn_rate),
            "-t", f"{math.ceil(self.duration)}s", "--stop-timeout", "2",
            "--host", self.host, "--exit-code-on-error", "0",
        ]  # fmt: skip
        if self.spec.processes > 1:
            port = str(_free_port())  # never Locust's fixed 5557: parallel runs must not collide
            cmd += [
                "--processes", str(self.spec.processes),
                "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--master-host", "127.0.0.1", "--master-port", port,
            ]  # fmt: skip
        return cmd

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("this load run has already started")
        self._samples_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HARNESS_SAMPLES_DIR": str(self._samples_dir),
            "HARNESS_RATE_PER_USER": str(self.spec.rate_per_user),
        }
        with open(self._log_path, "wb") as log:
            self._process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        self._started_at = time.monotonic()
        self._watcher = threading.Thread(target=self._watch, name="load-watcher", daemon=True)
        self._watcher.start()

    def samples(self) -> list[Sample]:
        """Every sample recorded so far, in file order (read incrementally)."""
        with self._lock:
            for path in sorted(self._samples_dir.glob("samples-*.jsonl")):
                self._read_new_lines(path)
            return list(self._samples)

    def stop(self) -> LoadOutcome:
        """Stop Locust now (the whole process group) and return the outcome."""
        if self._process is not None and self._process.poll() is None:
            self._ended_by = "stopped" if self._ended_by == "duration" else self._ended_by
            _terminate_group(self._process)
        return self.wait()

    def wait(self, timeout: float | None = None) -> LoadOutcome:
        """Wait for Locust to finish (it stops by itself after its duration) and return the outcome."""
        if self._process is None:
            raise RuntimeError("this load run was never started")
        assert self.duration is not None
        limit = timeout if timeout is not None else self.duration + _GRACE_S + 20
        try:
            self._process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self._ended_by = "stopped"
            _terminate_group(self._process)
        _kill_stragglers(self._process)
        if self._ended_at is None:
            self._ended_at = time.monotonic()
        samples = self.samples()
        # Achieved rate over the span the samples cover: Locust's own start-up is not load.
        elapsed = max(s.t for s in samples) - min(s.t for s in samples) if len(samples) > 1 else 0.0
        return LoadOutcome(
            intended_rps=self.spec.intended_rps,
            achieved_rps=len(samples) / elapsed if elapsed > 0 else 0.0,
            requests=len(samples),
            duration_s=elapsed,
            processes=self.spec.processes,
            ended_by=self._ended_by,
            exit_code=self._process.returncode,
            log_path=str(self._log_path),
        )

    def __enter__(self) -> LoadRun:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch(self) -> None:
        """Enforce ``max_requests`` from the parent: the children may not agree on a shared count."""
        assert self._process is not None
        while self._process.poll() is None:
            if len(self.samples()) >= self.spec.max_requests:
                self._ended_by = "max_requests"
                self._ended_at = time.monotonic()
                _terminate_group(self._process)
                return
            time.sleep(_POLL_S)
        self._ended_at = self._ended_at or time.monotonic()

    def _read_new_lines(self, path: Path) -> None:
        with open(path, "rb") as handle:
            handle.seek(self._offsets.get(path, 0))
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offsets[path] = self._offsets.get(path, 0) + len(complete)
        for line in complete.splitlines():
            self._samples.append(Sample.from_dict(json.loads(line)))


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """SIGINT the group (Locust stops users and writes its summary), then SIGKILL what is left."""
    for sig, wait_s in ((signal.SIGINT, _GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_stragglers(process: subprocess.Popen[bytes]) -> None:
    """Forked workers can outlive their master by a heartbeat; nothing of a run may linger."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
