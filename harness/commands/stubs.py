"""``harness stubs serve``: the stub platform and the gateway on fixed loopback ports, until Ctrl-C."""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import TYPE_CHECKING

import click

from harness.commands._console import make_console
from stubs.ports import DEFAULT_BASE_PORT, ports_from

if TYPE_CHECKING:
    from rich.console import Console

    from stubs.gateway.process import GatewayProcess

# The platform and the gateway (FastAPI, uvicorn, httpx) are imported by ``serve`` only.

__all__ = ["register"]


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # same clean stop as Ctrl-C


@click.group("stubs")
def stubs_group() -> None:
    """The built-in platform to break: stub upstreams and the gateway (system under test)."""


@stubs_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option(
    "--base-port", default=DEFAULT_BASE_PORT, show_default=True, type=int,
    help="Gateway on this port, then user, weather, prediction, processing, registry on the next five.",
)  # fmt: skip
@click.option(
    "--port", "port_overrides", multiple=True, metavar="NAME=PORT",
    help="Pin one service's port (repeatable); 0 picks a free one. Names: " + ", ".join(ports_from(1)) + ".",
)  # fmt: skip
@click.option("--no-gateway", is_flag=True, help="Start only the stubs.")
@click.option("--gateway-config", type=click.Path(exists=True, dir_okay=False), help="Gateway policy file.")
@click.option("--dlq-url", default=None, help="DLQ service the gateway dead-letters jobs to.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
def serve(
    host: str,
    base_port: int,
    port_overrides: tuple[str, ...],
    no_gateway: bool,
    gateway_config: str | None,
    dlq_url: str | None,
    duration: float | None,
) -> None:
    """Start every stub (and the gateway), print where each listens, stop cleanly on Ctrl-C."""
    from stubs.gateway.config import ConfigError
    from stubs.gateway.process import GatewayStartError
    from stubs.platform import Platform

    try:
        ports = ports_from(base_port)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--base-port") from None
    for item in port_overrides:
        name, _, value = item.partition("=")
        if name not in ports or not value.isdigit() or int(value) > 65535:
            raise click.BadParameter(
                f"{item!r}: expected NAME=PORT with NAME in {sorted(ports)}", param_hint="--port"
            )
        ports[name] = int(value)
    console = make_console()
    # Ctrl-C must work even when the shell started us with SIGINT ignored (a background job).
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _on_sigterm),
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    try:
        with Platform(
            host=host,
            ports=ports,
            gateway=None if no_gateway else "process",
            gateway_config=gateway_config,
            dlq_url=dlq_url,
        ) as platform:
            gateway = platform.gateway_process
            _print_table(console, platform.urls, gateway)
            deadline = None if duration is None else time.monotonic() + duration
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
                if gateway is not None and gateway.exit_code is not None:
                    if gateway.exit_code == 0:  # it got the same Ctrl-C and stopped first
                        break
                    status, tail = gateway.exit_code, gateway.log_tail()
                    raise click.ClickException(
                        f"the gateway exited with status {status}; its log ends:\n{tail}"
                    )
    except KeyboardInterrupt:
        pass
    except (OSError, ConfigError, GatewayStartError) as error:
        raise click.ClickException(str(error)) from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    console.print("stopped")


def _print_table(console: Console, urls: dict[str, str], gateway: GatewayProcess | None) -> None:
    from rich.table import Table

    table = Table(title="harness stubs: listening on loopback")
    table.add_column("service", no_wrap=True)
    table.add_column("url", no_wrap=True)
    for name, url in urls.items():
        table.add_row(name, url)
    console.print(table)
    hint = "stub control: <url>/_admin/behaviour, /_admin/requests"
    if gateway is None:  # --no-gateway: nothing to say about a gateway that is not running
        console.print(hint)
    else:
        console.print(f"{hint}; gateway: <url>/resilience/breakers")
        console.print(f"gateway log: {gateway.log_path}")
    console.print("Ctrl-C to stop")


def register(group: click.Group) -> None:
    group.add_command(stubs_group)
