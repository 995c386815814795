"""The contract suite runs every test that takes ``server`` against both Toxiproxy servers.

* ``real``: the ``toxiproxy-server`` binary on PATH (v2.12.0), started on a free loopback port.
* ``embedded``: ``harness.toxiproxy.server.EmbeddedToxiproxy`` on port 0, in a thread.

Both are session-scoped (one process or thread each); every test starts from an empty proxy table.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator

import pytest

from harness.toxiproxy.client import Proxy, ToxiproxyClient
from harness.toxiproxy.discovery import acquire_toxiproxy
from tests.toxiproxy._net import EchoServer

REAL, EMBEDDED = "real", "embedded"


@dataclasses.dataclass(frozen=True)
class Server:
    kind: str  # REAL or EMBEDDED
    url: str

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")

    def only(self, kind: str, why: str) -> None:
        """Skip unless this is the ``kind`` server: for documented, deliberate differences."""
        if self.kind != kind:
            pytest.skip(f"{kind} server only: {why}")


def _embedded_class() -> type:
    try:
        from harness.toxiproxy.server import EmbeddedToxiproxy
    except ModuleNotFoundError as exc:
        if exc.name != "harness.toxiproxy.server":
            raise
        pytest.skip("embedded server not built yet")
    return EmbeddedToxiproxy


@pytest.fixture(
    scope="session",
    params=[pytest.param(REAL, marks=pytest.mark.real_toxiproxy), EMBEDDED],
)
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    if request.param == REAL:
        if shutil.which("toxiproxy-server") is None:
            pytest.skip(
                "toxiproxy-server is not on PATH (go install github.com/Shopify/toxiproxy/v2/cmd/server)"
            )
        with acquire_toxiproxy(prefer="binary") as handle:
            yield Server(REAL, handle.url)
    else:
        with _embedded_class().running(host="127.0.0.1", port=0) as embedded:
            yield Server(EMBEDDED, str(embedded.url).rstrip("/"))


def _clear(client: ToxiproxyClient) -> None:
    for proxy in client.proxies().values():
        proxy.delete()


@pytest.fixture
def api(server: Server) -> Iterator[ToxiproxyClient]:
    """Our client on an empty server; proxies left by the test are deleted afterwards."""
    with ToxiproxyClient(server.url) as client:
        _clear(client)
        yield client
        _clear(client)


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    upstream = EchoServer()
    yield upstream
    upstream.close()


@pytest.fixture
def proxy(api: ToxiproxyClient, echo: EchoServer) -> Proxy:
    """A proxy named ``echo`` on 127.0.0.1:<free port> in front of the echo upstream."""
    return api.create_proxy("echo", echo.address)
