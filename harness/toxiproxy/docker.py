"""Toxiproxy in a Docker container, through the ``docker`` SDK (the optional ``docker`` extra).

The container runs with host networking and ``-host=127.0.0.1``, so its API and its proxies listen on
the host's loopback only, and upstreams on the host's loopback (``127.0.0.1:<port>``) are reachable
from inside it. Where no image can be pulled, :func:`build_scratch_image` builds one ``FROM scratch``
around a local *static* ``toxiproxy-server`` binary, with no Dockerfile on disk.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docker import DockerClient
    from docker.models.containers import Container

__all__ = [
    "DEFAULT_IMAGE",
    "LABEL",
    "SCRATCH_TAG",
    "DockerUnavailable",
    "build_scratch_image",
    "connect",
    "container_failure",
    "is_static_binary",
    "toxiproxy_container",
]

DEFAULT_IMAGE = "ghcr.io/shopify/toxiproxy:2.12.0"  # the official image; override with TOXIPROXY_IMAGE
SCRATCH_TAG = "harness-toxiproxy:scratch"
_DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_INSTALL_HINT = "pip install 'resilience-harness[docker]'"
LABEL = "io.resilience-harness.toxiproxy"  # marks containers this module started


class DockerUnavailable(Exception):
    """No Docker daemon could be used; the message says why (SDK missing, daemon down, image failed)."""


def connect(timeout: float = 3.0) -> DockerClient:
    """A client for the daemon named by the environment (DOCKER_HOST or the local socket), pinged once."""
    try:
        import docker
    except ImportError as exc:
        raise DockerUnavailable(f"the docker SDK is not installed ({_INSTALL_HINT})") from exc
    host = os.environ.get("DOCKER_HOST") or _DEFAULT_SOCKET
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        # Checked here because docker-py leaks the socket of a failed connect to a missing path.
        raise DockerUnavailable(f"no Docker daemon answers: {host} does not exist")
    try:
        client = docker.from_env(timeout=int(max(1, timeout)))
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(f"no Docker daemon answers: {exc}") from exc
    return client


def is_static_binary(path: Path) -> bool:
    """Whether an ELF executable needs no dynamic loader (no PT_INTERP header), so it runs FROM scratch."""
    with path.open("rb") as f:
        ident = f.read(64)
        if len(ident) < 64 or ident[:4] != b"\x7fELF":
            raise ValueError(f"{path} is not an ELF executable")
        word, phoff_at, phnum_at = ("Q", 32, 54) if ident[4] == 2 else ("I", 28, 42)  # ELF64 or ELF32
        order = "<" if ident[5] == 1 else ">"
        (phoff,) = struct.unpack_from(order + word, ident, phoff_at)
        phentsize, phnum = struct.unpack_from(order + "HH", ident, phnum_at)
        for index in range(phnum):
            f.seek(phoff + index * phentsize)
            (p_type,) = struct.unpack(f"{order}I", f.read(4))
            if p_type == 3:  # PT_INTERP: the path of the dynamic loader
                return False
    return True


def _context_tar(binary: Path) -> io.BytesIO:
    """The build context, in memory: a two-line Dockerfile and the binary."""
    dockerfile = b'FROM scratch\nCOPY toxiproxy-server /toxiproxy\nENTRYPOINT ["/toxiproxy"]\n'
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
        tar.add(str(binary), arcname="toxiproxy-server")
    buffer.seek(0)
    return buffer


def build_scratch_image(binary: Path, tag: str = SCRATCH_TAG, *, client: DockerClient | None = None) -> str:
    """Build ``tag`` FROM scratch around a static toxiproxy-server binary; returns the image id.

    The entrypoint is ``/toxiproxy`` like the official image, so the same arguments work for both.
    """
    binary = Path(binary)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        raise ValueError(f"{binary} is not an executable file")
    if not is_static_binary(binary):
        raise ValueError(
            f"{binary} is dynamically linked and cannot run FROM scratch; build a static one with "
            "CGO_ENABLED=0 go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0"
        )
    client = client or connect()
    image, _logs = client.images.build(fileobj=_context_tar(binary), custom_context=True, tag=tag, rm=True)
    return str(image.id)


@contextlib.contextmanager
def toxiproxy_container(image: str, port: int, *, client: DockerClient) -> Iterator[Container]:
    """Run Toxiproxy from ``image`` with its API on 127.0.0.1:``port``; the container is removed on exit.

    The image is pulled if it is not present; a failed pull raises :class:`DockerUnavailable`.
    """
    import docker

    try:
        container = client.containers.run(
            image,
            ["-host=127.0.0.1", f"-port={port}"],
            network_mode="host",
            detach=True,
            environment={"LOG_LEVEL": os.environ.get("LOG_LEVEL", "warn")},
            labels={LABEL: "1"},
        )
    except docker.errors.DockerException as exc:
        raise DockerUnavailable(f"cannot run image {image!r}: {exc}") from exc
    try:
        yield container
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            container.remove(force=True)


def container_failure(container: Container) -> str | None:
    """Why the container stopped (its status and last log lines), or None while it runs."""
    container.reload()
    if container.status in ("created", "running"):
        return None
    logs = container.logs(tail=5).decode(errors="replace").strip()
    return f"container {container.short_id} is {container.status}: {logs}"
