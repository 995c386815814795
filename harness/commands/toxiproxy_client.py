"""``harness toxiproxy which|list|reset``: client-side commands on the ``toxiproxy`` group.

The group itself (and ``serve``) lives in :mod:`harness.commands.toxiproxy_serve`; this module only adds
commands that talk to a Toxiproxy through the client or ask discovery what it would use.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import click

from harness.toxiproxy.defaults import DEFAULT_URL, ENV_URL, ToxiproxyKind

if TYPE_CHECKING:
    from harness.toxiproxy.client import Proxy

# The client and discovery import httpx, so the commands import them themselves; --help only needs
# the names in harness.toxiproxy.defaults.
KINDS = tuple(kind.value for kind in ToxiproxyKind)

_url_option = click.option(
    "--url",
    envvar=ENV_URL,
    default=DEFAULT_URL,
    show_default=True,
    help=f"Toxiproxy API address (env {ENV_URL}).",
)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Show Toxiproxy and input errors as one line, not a traceback."""
    from harness.toxiproxy.client import ToxiproxyError

    try:
        yield
    except (ToxiproxyError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("which")
@click.option(
    "--prefer",
    type=click.Choice(KINDS),
    help="Force one kind, as HARNESS_TOXIPROXY does.",
)
@click.option(
    "--image", help="Docker image for the docker kind (default: TOXIPROXY_IMAGE or the official one)."
)
def which_command(prefer: str | None, image: str | None) -> None:
    """Say which Toxiproxy the harness would use, and why (starts nothing)."""
    from harness.toxiproxy.discovery import choose_toxiproxy

    with _user_errors():
        choice = choose_toxiproxy(prefer=prefer, image=image)
    click.echo(f"{choice.kind.value}: {choice.reason}")


def _describe(proxy: Proxy) -> list[str]:
    state = "enabled" if proxy.enabled else "disabled"
    lines = [f"{proxy.name}\t{proxy.listen} -> {proxy.upstream}\t{state}"]
    for toxic in proxy.toxics():
        attributes = " ".join(f"{key}={value}" for key, value in toxic.attributes.items())
        lines.append(
            f"  {toxic.name}\t{toxic.type} {toxic.stream} toxicity={toxic.toxicity:g} {attributes}".rstrip()
        )
    return lines


@click.command("list")
@_url_option
@click.option("--json", "as_json", is_flag=True, help="Print the proxies and toxics as JSON.")
def list_command(url: str, as_json: bool) -> None:
    """List the proxies of a running Toxiproxy, with their toxics."""
    from harness.toxiproxy.client import ToxiproxyClient

    with _user_errors(), ToxiproxyClient(url) as client:
        proxies = list(client.proxies().values())
        if as_json:
            rows = [
                {
                    "name": p.name,
                    "listen": p.listen,
                    "upstream": p.upstream,
                    "enabled": p.enabled,
                    "toxics": [dataclasses.asdict(t) for t in p.toxics()],
                }
                for p in proxies
            ]
            click.echo(json.dumps(rows, indent=2))
            return
        if not proxies:
            click.echo(f"no proxies at {client.url}")
        for proxy in proxies:
            click.echo("\n".join(_describe(proxy)))


@click.command("reset")
@_url_option
def reset_command(url: str) -> None:
    """Enable every proxy and remove every toxic (proxies are kept)."""
    from harness.toxiproxy.client import ToxiproxyClient

    with _user_errors(), ToxiproxyClient(url) as client:
        client.reset()
        count = len(client.proxies())
        click.echo(
            f"reset {count} prox{'y' if count == 1 else 'ies'} at {client.url}: all enabled, no toxics"
        )


def register(group: click.Group) -> None:
    """Add the client commands to the ``toxiproxy`` group (registered on ``group`` by toxiproxy_serve)."""
    from harness.commands.toxiproxy_serve import toxiproxy_group

    for command in (which_command, list_command, reset_command):
        toxiproxy_group.add_command(command)
