"""Run the gateway as a child process (``python -m stubs.gateway``) and know where it listens.

::

    with GatewayProcess(upstreams=platform.urls, dlq_url=dlq.url) as gateway:
        httpx.get(gateway.url + "/forecast/north")

The child binds port 0 by default and prints its address; its output goes to ``log_path`` (a
temporary file unless given), which is also where to look when it fails to start. Stopping sends
SIGTERM, waits ``stop_timeout`` seconds, then kills.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from stubs.gateway.__main__ import READY_PREFIX

__all__ = ["GatewayProcess", "GatewayStartError"]


class GatewayStartError(RuntimeError):
    """The gateway process exited or stayed silent; the message carries the end of its log."""


class GatewayProcess:
    """The gateway in its own interpreter. Upstreams not in ``upstreams`` are looked up in the
    registry at ``registry_url`` when given, else keep the config's URL."""

    def __init__(
        self,
        *,
        config: str | Path | None = None,
        upstreams: Mapping[str, str] | None = None,
        dlq_url: str | None = None,
        registry_url: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.args = [sys.executable, "-m", "stubs.gateway", "--host", host, "--port", str(port)]
        if config is not None:
            self.args += ["--config", str(config)]
        for name, url in (upstreams or {}).items():
            self.args += ["--upstream", f"{name}={url}"]
        if dlq_url is not None:
            self.args += ["--dlq-url", dlq_url]
        if registry_url is not None:
            self.args += ["--registry", registry_url]
        self.env = {**os.environ, **(env or {})}
        self.log_path = (
            Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="gateway-", suffix=".log")[1])
        )
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def exit_code(self) -> int | None:
        """The child's exit status once it ended by itself; ``None`` while it runs (or never ran)."""
        return None if self._process is None else self._process.poll()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def start(self) -> GatewayProcess:
        """Spawn the child and return once it prints its address (or raise :class:`GatewayStartError`)."""
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            for line in self.log_tail(200).splitlines():
                if line.startswith(READY_PREFIX):
                    self.url = line[len(READY_PREFIX) :].strip()
                    return self
            if self._process.poll() is not None:
                break
            time.sleep(0.05)
        code = self._process.poll()
        self.stop()
        reason = f"exited with status {code}" if code is not None else f"not ready in {self.start_timeout:g}s"
        raise GatewayStartError(f"gateway {reason}; log {self.log_path}:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; idempotent."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
