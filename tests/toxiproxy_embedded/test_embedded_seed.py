"""``seed`` makes toxicity and jitter draws reproducible (per-link generators, see ``Proxy.rng``)."""

from __future__ import annotations

import httpx

from harness.toxiproxy.proxy import Proxy
from harness.toxiproxy.server import EmbeddedToxiproxy
from tests.toxiproxy_embedded._helpers import add_toxic, connect, round_trip


def _draws(seed: int | None, index: int, direction: str) -> list[float]:
    rng = Proxy("p", "127.0.0.1:0", "127.0.0.1:9", seed).rng(index, direction)
    return [rng.random() for _ in range(5)]


def test_link_generators_depend_only_on_seed_proxy_index_direction() -> None:
    assert _draws(7, 0, "down") == _draws(7, 0, "down")
    assert _draws(7, 0, "down") != _draws(8, 0, "down")
    assert _draws(7, 0, "down") != _draws(7, 1, "down")
    assert _draws(7, 0, "down") != _draws(7, 0, "up")
    assert _draws(None, 0, "down") != _draws(None, 0, "down")


def _toxic_pattern(seed: int, upstream: str, connections: int = 8) -> list[bool]:
    """Which of ``connections`` sequential connections got a toxicity-0.5 latency toxic."""
    with EmbeddedToxiproxy.running(port=0, seed=seed) as server, httpx.Client(base_url=server.url) as http:
        created = http.post("/proxies", json={"name": "echo", "listen": "127.0.0.1:0", "upstream": upstream})
        port = int(created.json()["listen"].rsplit(":", 1)[1])
        add_toxic(http, type="latency", toxicity=0.5, attributes={"latency": 250})
        pattern = []
        for _ in range(connections):
            with connect(port) as sock:
                pattern.append(round_trip(sock) >= 200)
        return pattern


def test_same_seed_gives_same_toxicity_draws(echo: object) -> None:
    address = echo.address  # type: ignore[attr-defined]
    first = _toxic_pattern(11, address)
    assert first == _toxic_pattern(11, address)
    assert True in first and False in first  # a real draw, not all-or-nothing


def test_seeded_jitter_is_reproducible() -> None:
    from harness.toxiproxy.stream import Channel
    from harness.toxiproxy.toxics import LatencyToxic, ToxicStub

    toxic = LatencyToxic(latency=100, jitter=50)

    def delays(seed: int) -> list[float]:
        stub = ToxicStub(Channel(), Channel(), Proxy("p", "", "", seed).rng(3, "down"))
        return [toxic.delay(stub) for _ in range(20)]

    assert delays(5) == delays(5)
    assert delays(5) != delays(6)
    assert all(0.050 <= d < 0.150 for d in delays(5))
