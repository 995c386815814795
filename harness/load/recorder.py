"""Locust plugin that records every request as a raw sample line (JSON) for the harness.

Loaded by Locust beside the user's locustfile (``locust -f their.py,recorder.py``) when the
harness drives the run; it does nothing unless ``HARNESS_SAMPLES_DIR`` is set. Each Locust process
writes its own file, so distributed workers never share a file handle. ``t`` is the absolute
``time.monotonic()`` when the request was sent: on Linux every process shares that clock, so the
harness lines samples up with its fault timeline exactly.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from locust import events

_DIR = os.environ.get("HARNESS_SAMPLES_DIR")
_FLUSH_EVERY_S = 0.2


class _SampleWriter:
    """Opens its file lazily per process: ``--processes`` forks after this module is imported."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._directory = directory
        self._pid = 0
        self._file: Any = None
        self._last_flush = time.monotonic()

    def write(self, record: dict[str, Any]) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._file = open(self._directory / f"samples-{self._pid}.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        now = time.monotonic()
        if now - self._last_flush >= _FLUSH_EVERY_S:
            self._file.flush()
            self._last_flush = now

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()


if _DIR:
    _writer = _SampleWriter(Path(_DIR))

    @events.request.add_listener
    def _record(
        request_type: str,
        name: str,
        response_time: float,
        response: Any = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        status = getattr(response, "status_code", None)
        headers = getattr(response, "headers", None) or {}
        _writer.write(
            {
                "t": time.monotonic() - response_time / 1000.0,
                "route": f"{request_type} {name}",
                "latency_ms": response_time,
                "ok": exception is None,
                "status": status or None,
                "fallback": "x-fallback" in {k.lower() for k in headers},
                "source": "load",
            }
        )

    @events.quitting.add_listener
    def _close(**_: Any) -> None:
        _writer.close()
