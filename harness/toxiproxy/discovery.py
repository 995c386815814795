"""Find a Toxiproxy to use, start it if needed, and say which one and why.

Order, first match wins:

1. ``TOXIPROXY_URL`` if set: a server the user runs; it must answer, or discovery fails loudly.
2. A ``toxiproxy-server`` binary on PATH, started on a free loopback port and stopped on exit.
3. A Docker container (``docker`` SDK, a daemon that answers), image ``TOXIPROXY_IMAGE`` or the
   official one, with host networking on a free loopback port; removed on exit.
4. The embedded Python server (``harness.toxiproxy.server``) on a free loopback port.

``prefer=`` (or ``HARNESS_TOXIPROXY=url|binary|docker|embedded``) forces one kind: it fails rather than
falling back. Without it, a binary or container that fails to start falls through to the next kind and
the handle's ``reason`` says so. Everything listens on 127.0.0.1; upstreams should be loopback too
(the container shares the host's network for exactly that).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import IO

from harness.toxiproxy import docker as _docker
from harness.toxiproxy.client import ToxiproxyClient, ToxiproxyError, ToxiproxyUnavailable
from harness.toxiproxy.defaults import ENV_URL, ToxiproxyKind

__all__ = [
    "ENV_IMAGE",
    "ENV_PREFER",
    "ENV_URL",
    "START_TIMEOUT",
    "Choice",
    "ToxiproxyHandle",
    "ToxiproxyKind",
    "acquire_toxiproxy",
    "choose_toxiproxy",
]

ENV_PREFER = "HARNESS_TOXIPROXY"
ENV_IMAGE = "TOXIPROXY_IMAGE"
BINARY_NAME = "toxiproxy-server"
START_TIMEOUT = 15.0  # seconds for a started server's /version to answer
_HOST = "127.0.0.1"


@dataclasses.dataclass(frozen=True)
class Choice:
    """A kind discovery would use, and the sentence explaining why (nothing started yet)."""

    kind: ToxiproxyKind
    reason: str
    url: str | None = None  # for URL
    binary: str | None = None  # for BINARY
    image: str | None = None  # for DOCKER


@dataclasses.dataclass(frozen=True)
class ToxiproxyHandle:
    """A Toxiproxy ready to use: its API ``url``, a ``client`` on it, and why it was picked."""

    url: str
    kind: ToxiproxyKind
    reason: str
    client: ToxiproxyClient


def _forced_kind(prefer: str | None) -> tuple[ToxiproxyKind | None, str]:
    source = "prefer" if prefer else ENV_PREFER
    value = (prefer or os.environ.get(ENV_PREFER) or "").strip().lower()
    if not value or value == "auto":
        return None, ""
    try:
        return ToxiproxyKind(value), f"{source}={value} forces it"
    except ValueError:
        choices = ", ".join(k.value for k in ToxiproxyKind)
        raise ValueError(f"{source}={value!r} is not a Toxiproxy kind; use one of: {choices}") from None


def _url_choice(why: str) -> Choice:
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        raise ToxiproxyUnavailable(None, f"{why}, but {ENV_URL} is not set")
    with ToxiproxyClient(url, timeout=3.0) as client:
        try:
            version = client.version()
        except ToxiproxyError as exc:
            raise ToxiproxyUnavailable(
                None, f"{ENV_URL}={url} is set but no Toxiproxy answers there: {exc}"
            ) from exc
    return Choice(ToxiproxyKind.URL, f"{why}: using the Toxiproxy {version} at {url}", url=url)


def _candidates(prefer: str | None, image: str | None) -> Iterator[Choice]:
    """The kinds to try, best first, each with why the ones before it were passed over.

    Lazy, so nothing further down the list is probed once one works; a forced kind yields only itself.
    """
    forced, forced_why = _forced_kind(prefer)
    if forced is ToxiproxyKind.URL or (forced is None and os.environ.get(ENV_URL, "").strip()):
        yield _url_choice(forced_why or f"{ENV_URL} is set")
        return
    passed_over = [forced_why] if forced else [f"{ENV_URL} is not set"]
    if forced in (None, ToxiproxyKind.BINARY):
        binary = shutil.which(BINARY_NAME)
        if binary:
            yield Choice(ToxiproxyKind.BINARY, f"{passed_over[0]}: found {binary} on PATH", binary=binary)
        elif forced:
            raise ToxiproxyUnavailable(None, f"{forced_why}, but there is no {BINARY_NAME} on PATH")
        else:
            passed_over.append(f"no {BINARY_NAME} on PATH")
    if forced in (None, ToxiproxyKind.DOCKER):
        image = image or os.environ.get(ENV_IMAGE) or _docker.DEFAULT_IMAGE
        try:
            _docker.connect().close()
        except _docker.DockerUnavailable as exc:
            if forced:
                raise ToxiproxyUnavailable(None, f"{forced_why}, but {exc}") from exc
            passed_over.append(str(exc))
        else:
            why = ", ".join(passed_over)
            yield Choice(
                ToxiproxyKind.DOCKER, f"{why}: a Docker daemon answers, running {image}", image=image
            )
    if forced in (None, ToxiproxyKind.EMBEDDED):
        yield Choice(ToxiproxyKind.EMBEDDED, f"{', '.join(passed_over)}: using the embedded Python server")


def choose_toxiproxy(*, prefer: str | None = None, image: str | None = None) -> Choice:
    """What :func:`acquire_toxiproxy` would use first, without starting anything."""
    return next(_candidates(prefer, image))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((_HOST, 0))
        return int(sock.getsockname()[1])


def _wait_ready(client: ToxiproxyClient, what: str, failure: Callable[[], str | None]) -> None:
    """Poll /version until it answers; ``failure()`` reports a process or container that died."""
    deadline = time.monotonic() + START_TIMEOUT
    while not client.is_running():
        died = failure()
        if died is not None:
            raise ToxiproxyUnavailable(None, f"{what} did not start: {died}")
        if time.monotonic() > deadline:
            raise ToxiproxyUnavailable(
                None, f"{what} did not answer on {client.url} within {START_TIMEOUT:g} s"
            )
        time.sleep(0.05)


def _log_tail(log: IO[bytes]) -> str:
    log.seek(0)
    return b" ".join(log.read().splitlines()[-5:]).decode(errors="replace")


@contextlib.contextmanager
def _run_binary(binary: str) -> Iterator[str]:
    """Run ``toxiproxy-server`` on a free loopback port; terminated and reaped on exit."""
    port = _free_port()
    env = {**os.environ, "LOG_LEVEL": os.environ.get("LOG_LEVEL", "warn")}  # its default logs every byte
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [binary, "-host", _HOST, "-port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            with ToxiproxyClient(f"http://{_HOST}:{port}", timeout=1.0) as probe:

                def exited() -> str | None:
                    code = process.poll()
                    return None if code is None else f"exit status {code}: {_log_tail(log)}"

                _wait_ready(probe, f"{binary} on port {port}", exited)
            yield probe.url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def _run_docker(image: str) -> Iterator[str]:
    port = _free_port()
    client = _docker.connect()
    try:
        with _docker.toxiproxy_container(image, port, client=client) as container:
            with ToxiproxyClient(f"http://{_HOST}:{port}", timeout=1.0) as probe:
                _wait_ready(probe, f"container of {image}", lambda: _docker.container_failure(container))
            yield probe.url
    finally:
        client.close()


@contextlib.contextmanager
def _run_embedded() -> Iterator[str]:
    try:
        from harness.toxiproxy.server import EmbeddedToxiproxy
    except ImportError as exc:
        raise ToxiproxyUnavailable(None, f"the embedded Toxiproxy server cannot be imported: {exc}") from exc
    with EmbeddedToxiproxy.running(host=_HOST, port=0) as server:
        yield str(server.url)


def _start(choice: Choice) -> contextlib.AbstractContextManager[str]:
    if choice.kind is ToxiproxyKind.URL:
        return contextlib.nullcontext(str(choice.url))
    if choice.kind is ToxiproxyKind.BINARY:
        return _run_binary(str(choice.binary))
    if choice.kind is ToxiproxyKind.DOCKER:
        return _run_docker(str(choice.image))
    return _run_embedded()


@contextlib.contextmanager
def acquire_toxiproxy(*, prefer: str | None = None, image: str | None = None) -> Iterator[ToxiproxyHandle]:
    """Yield a running Toxiproxy (see the module docstring for the order); whatever was started stops on exit.

    Raises :class:`ToxiproxyUnavailable` when the forced or configured Toxiproxy cannot be used, and
    ``ValueError`` for an unknown ``prefer``/``HARNESS_TOXIPROXY`` value.
    """
    failures: list[str] = []
    for choice in _candidates(prefer, image):
        with contextlib.ExitStack() as stack:
            try:
                url = stack.enter_context(_start(choice))
            except (ToxiproxyUnavailable, _docker.DockerUnavailable) as exc:
                failures.append(f"{choice.kind.value} failed ({exc})")
                continue
            started = "" if choice.kind is ToxiproxyKind.URL else f", started at {url}"
            reason = "; then ".join([*failures, choice.reason + started])
            client = stack.enter_context(ToxiproxyClient(url))
            yield ToxiproxyHandle(url=url, kind=choice.kind, reason=reason, client=client)
            return
    raise ToxiproxyUnavailable(None, "no Toxiproxy could be started: " + "; ".join(failures))
