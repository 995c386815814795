"""``python -m stubs.gateway``: serve the gateway in its own process.

Once it accepts connections it prints one line, ``gateway listening on http://HOST:PORT``, on
stdout (so ``--port 0`` is usable: the caller reads the port there). Exit status 2 and one line on
stderr for a bad configuration.
"""

from __future__ import annotations

import asyncio
import socket
import sys

import click
import uvicorn

from stubs.gateway.app import create_app
from stubs.gateway.config import ConfigError, load_config, parse_upstreams

READY_PREFIX = "gateway listening on "


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port", default=18080, show_default=True, type=click.IntRange(0, 65535), help="0: a free port."
)
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), envvar="GATEWAY_CONFIG",
    help="Per-service policy file (JSON/YAML); default: the shipped default-config.json.",
)  # fmt: skip
@click.option(
    "--upstream", "upstreams", multiple=True, metavar="NAME=URL",
    help="Override one upstream's URL (repeatable), e.g. to route it through a Toxiproxy proxy.",
)  # fmt: skip
@click.option("--dlq-url", default=None, help="DLQ service base URL (env GATEWAY_DLQ_URL).")
@click.option(
    "--registry", "registry_url", default=None,
    help="Consul-compatible registry for upstreams not given by --upstream (env GATEWAY_REGISTRY_URL).",
)  # fmt: skip
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))  # fmt: skip
def main(
    host: str,
    port: int,
    config_path: str | None,
    upstreams: tuple[str, ...],
    dlq_url: str | None,
    registry_url: str | None,
    log_level: str,
) -> None:
    """Serve the Fluxora gateway (system under test)."""
    try:
        config = load_config(
            config_path, upstreams=parse_upstreams(upstreams), dlq_url=dlq_url, registry_url=registry_url
        )
        app = create_app(config)
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP: asyncio sets NODELAY
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        raise click.UsageError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, access_log=False, timeout_graceful_shutdown=2)
    )

    async def serve() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started:
            print(f"{READY_PREFIX}http://{host}:{sock.getsockname()[1]}", flush=True)
        await task

    asyncio.run(serve())
    sys.exit(0 if server.started else 1)


if __name__ == "__main__":
    main()
