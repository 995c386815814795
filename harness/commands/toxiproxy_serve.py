"""``harness toxiproxy serve``: run the embedded Toxiproxy-compatible server in the foreground.

Defines the ``toxiproxy`` click group (:data:`toxiproxy_group`); other modules add their commands to it.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import click


@click.group("toxiproxy")
def toxiproxy_group() -> None:
    """Toxiproxy: the embedded server and client-side commands."""


@toxiproxy_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="API address to listen on.")
@click.option(
    "--port",
    default=8474,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="API port (0 = any free port).",
)
@click.option(
    "--seed", type=int, default=None, help="Seed that makes toxicity and jitter draws reproducible."
)
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON array of proxies loaded at start, like POST /populate.",
)
def serve_command(host: str, port: int, seed: int | None, config: Path | None) -> None:
    """Serve the Toxiproxy v2.12 API until SIGINT or SIGTERM."""
    import asyncio

    try:
        asyncio.run(_serve(host, port, seed, config))
    except OSError as exc:
        reason = (
            os.strerror(exc.errno) if isinstance(exc.errno, int) and exc.errno > 0 else exc.strerror or exc
        )
        raise click.ClickException(f"cannot listen on {host}:{port}: {reason}") from None


async def _serve(host: str, port: int, seed: int | None, config: Path | None) -> None:
    import asyncio

    from harness.toxiproxy.server import EmbeddedToxiproxy

    server = EmbeddedToxiproxy(host, port, seed)
    await server.start()
    if config is not None:
        await server.populate_file(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    click.echo(f"toxiproxy (embedded) listening on {host or '*'}:{server.port}, API {server.url}", err=True)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signum)
        await server.stop()
        click.echo("toxiproxy (embedded) stopped", err=True)


def register(group: click.Group) -> None:
    """Add the ``toxiproxy`` group (with ``serve``) to the ``harness`` command."""
    group.add_command(toxiproxy_group)
