"""``harness toxiproxy which|list|reset`` through click's runner, against both servers."""

from __future__ import annotations

import json
import shutil

import click
import pytest
from click.testing import CliRunner

from harness.toxiproxy.client import ToxiproxyClient
from tests.toxiproxy._net import EchoServer
from tests.toxiproxy.conftest import Server


@pytest.fixture(scope="module")
def harness_cli() -> click.Group:
    try:
        from harness.cli import cli
    except ModuleNotFoundError as exc:
        pytest.skip(f"the harness CLI cannot be imported yet: {exc}")
    toxiproxy = cli.commands.get("toxiproxy")
    if not isinstance(toxiproxy, click.Group) or "which" not in toxiproxy.commands:
        pytest.skip("harness.commands.toxiproxy_client is not in COMMAND_MODULES yet")
    return cli


def invoke(cli: click.Group, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["toxiproxy", *args], env=env, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.mark.skipif(shutil.which("toxiproxy-server") is None, reason="toxiproxy-server is not on PATH")
def test_which_names_the_kind_and_the_reason(harness_cli: click.Group) -> None:
    code, output = invoke(harness_cli, "which", env={"TOXIPROXY_URL": "", "HARNESS_TOXIPROXY": ""})
    assert code == 0
    assert output.startswith("binary: TOXIPROXY_URL is not set: found ")
    code, output = invoke(harness_cli, "which", "--prefer", "url", env={"TOXIPROXY_URL": ""})
    assert code == 1
    assert output.strip() == "Error: prefer=url forces it, but TOXIPROXY_URL is not set"


def test_list_and_reset(
    harness_cli: click.Group, server: Server, api: ToxiproxyClient, echo: EchoServer
) -> None:
    assert invoke(harness_cli, "list", "--url", server.url) == (0, f"no proxies at {server.url}\n")
    proxy = api.create_proxy("echo", echo.address)
    proxy.add_toxic("latency", latency=100)
    proxy.disable()
    code, output = invoke(harness_cli, "list", env={"TOXIPROXY_URL": server.url})
    assert code == 0
    assert output.splitlines() == [
        f"echo\t{proxy.listen} -> {echo.address}\tdisabled",
        "  latency_downstream\tlatency downstream toxicity=1 latency=100 jitter=0",
    ]
    code, output = invoke(harness_cli, "list", "--json", "--url", server.url)
    assert json.loads(output)[0]["toxics"][0]["attributes"] == {"latency": 100, "jitter": 0}
    code, output = invoke(harness_cli, "reset", "--url", server.url)
    assert (code, output) == (0, f"reset 1 proxy at {server.url}: all enabled, no toxics\n")
    assert api.get_proxy("echo").enabled and proxy.toxics() == []


def test_unreachable_server_is_one_line_error(harness_cli: click.Group) -> None:
    code, output = invoke(harness_cli, "reset", "--url", "http://127.0.0.1:1")
    assert code == 1
    assert output.startswith("Error: cannot reach Toxiproxy at http://127.0.0.1:1")
    assert "Traceback" not in output
