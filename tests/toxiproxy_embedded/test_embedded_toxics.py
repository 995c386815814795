"""Each toxic's effect on real loopback sockets through the embedded server.

Timing tolerances: lower bounds are tight (a toxic may never be faster than asked, minus 10 ms of timer
slack); upper bounds are generous (+100 ms or +30 %) because the box is shared and loaded.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time

import httpx
import pytest

from harness.toxiproxy.server import EmbeddedToxiproxy
from tests.toxiproxy_embedded._helpers import (
    add_toxic,
    connect,
    read_exactly,
    read_until_closed,
    round_trip,
)

SLACK_MS = 10  # timer slack allowed below a requested delay


def test_latency_adds_delay_and_applies_to_open_connections(http: httpx.Client, proxy_port: int) -> None:
    with connect(proxy_port) as sock:
        assert round_trip(sock) < 100
        add_toxic(http, type="latency", attributes={"latency": 200})
        assert 200 - SLACK_MS <= round_trip(sock) <= 300
        add_toxic(http, type="latency", stream="upstream", attributes={"latency": 100})
        assert 300 - SLACK_MS <= round_trip(sock) <= 420


def test_latency_runs_from_read_time_so_chunks_overlap(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", attributes={"latency": 200})
    with connect(proxy_port) as sock:
        start = time.monotonic()
        for index in range(5):
            sock.sendall(bytes([65 + index]))
            time.sleep(0.05)
        assert read_exactly(sock, 5) == b"ABCDE"
        elapsed = (time.monotonic() - start) * 1000
        assert 400 - SLACK_MS <= elapsed <= 550  # 4 x 50 ms of sending + 200 ms, not 5 x 200 ms


def test_jitter_spreads_delays_around_latency(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", attributes={"latency": 100, "jitter": 50})
    with connect(proxy_port) as sock:
        samples = [round_trip(sock) for _ in range(15)]
    assert min(samples) >= 50 - SLACK_MS
    assert max(samples) <= 150 + 100
    assert max(samples) - min(samples) > 15


def test_removing_latency_passes_held_data_at_once(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", attributes={"latency": 3000})
    with connect(proxy_port) as sock:
        start = time.monotonic()
        sock.sendall(b"held")
        time.sleep(0.2)
        assert http.delete("/proxies/echo/toxics/latency_downstream").status_code == 204
        assert read_exactly(sock, 4) == b"held"
        assert (time.monotonic() - start) * 1000 < 1500
        assert round_trip(sock) < 100


def test_toxicity_zero_never_applies_and_update_redraws(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", toxicity=0, attributes={"latency": 300})
    with connect(proxy_port) as sock:
        assert round_trip(sock) < 150
        http.patch("/proxies/echo/toxics/latency_downstream", json={"toxicity": 1})
        assert round_trip(sock) >= 300 - SLACK_MS
        http.patch("/proxies/echo/toxics/latency_downstream", json={"toxicity": 0})
        assert round_trip(sock) < 150


@pytest.mark.parametrize("rate", [100, 400])
def test_bandwidth_limits_rate(http: httpx.Client, proxy_port: int, rate: int) -> None:
    size = rate * 500  # half a second's worth at the rate (KB/s, 1 KB = 1000 bytes)
    add_toxic(http, type="bandwidth", attributes={"rate": rate})
    with connect(proxy_port) as sock:
        payload = os.urandom(size)
        start = time.monotonic()
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert read_exactly(sock, size) == payload
        elapsed = (time.monotonic() - start) * 1000
    assert 500 * 0.85 <= elapsed <= 500 * 1.3


def test_bandwidth_zero_stalls_until_removed(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="bandwidth", attributes={"rate": 0})
    with connect(proxy_port) as sock:
        sock.sendall(b"stalled")
        sock.settimeout(0.4)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        sock.settimeout(5)
        http.delete("/proxies/echo/toxics/bandwidth_downstream")
        assert read_exactly(sock, 7) == b"stalled"


def test_slow_close_holds_back_the_close(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="slow_close", attributes={"delay": 300})
    with connect(proxy_port) as sock:
        round_trip(sock)
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        assert read_until_closed(sock) == b""
        assert 300 - SLACK_MS <= (time.monotonic() - start) * 1000 <= 450


def test_half_close_is_not_kept(http: httpx.Client, proxy_port: int) -> None:
    with connect(proxy_port) as sock:
        round_trip(sock)
        start = time.monotonic()
        sock.shutdown(socket.SHUT_WR)
        assert read_until_closed(sock) == b""
        assert (time.monotonic() - start) * 1000 < 150


def test_timeout_drops_data_and_closes_after_the_last_chunk(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="timeout", attributes={"timeout": 300})
    with connect(proxy_port) as sock:
        start = time.monotonic()
        sock.sendall(b"dropped")
        time.sleep(0.2)
        sock.sendall(b"dropped too")  # the echo comes back, is dropped downstream and restarts the timer
        assert read_until_closed(sock) == b""
        assert 500 - SLACK_MS <= (time.monotonic() - start) * 1000 <= 800


def test_timeout_zero_holds_until_removed_then_closes(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="timeout", attributes={"timeout": 0})
    with connect(proxy_port) as sock:
        sock.sendall(b"lost")
        sock.settimeout(0.4)
        with pytest.raises(TimeoutError):
            sock.recv(100)
        sock.settimeout(5)
        start = time.monotonic()
        http.delete("/proxies/echo/toxics/timeout_downstream")
        assert read_until_closed(sock) == b""
        assert (time.monotonic() - start) * 1000 < 500


def test_removing_timeout_closes_even_pass_through_links(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="timeout", toxicity=0, attributes={"timeout": 0})
    with connect(proxy_port) as sock:
        round_trip(sock)  # toxicity 0: data passes
        http.post("/reset")
        assert read_until_closed(sock) == b""


def test_reset_peer_present_at_accept_sends_rst(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="reset_peer", attributes={"timeout": 100})
    with connect(proxy_port) as sock:
        start = time.monotonic()
        sock.sendall(b"x")
        with pytest.raises(ConnectionResetError):
            read_until_closed(sock)
        assert 100 - SLACK_MS <= (time.monotonic() - start) * 1000 <= 400


def test_reset_peer_added_to_open_connection_closes_with_fin(http: httpx.Client, proxy_port: int) -> None:
    with connect(proxy_port) as sock:
        round_trip(sock)
        add_toxic(http, type="reset_peer", attributes={"timeout": 100})
        sock.sendall(b"x")
        assert read_until_closed(sock) == b""


def test_reset_peer_leaves_idle_connections_alone(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="reset_peer", attributes={"timeout": 50})
    with connect(proxy_port) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_limit_data_cuts_at_the_byte(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="limit_data", attributes={"bytes": 10})
    with connect(proxy_port) as sock:
        sock.sendall(b"0123456789abcdefghij")
        assert read_until_closed(sock) == b"0123456789"


def test_limit_data_count_survives_updates(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="limit_data", attributes={"bytes": 10})
    with connect(proxy_port) as sock:
        sock.sendall(b"abcdefg")
        assert read_exactly(sock, 7) == b"abcdefg"
        http.patch("/proxies/echo/toxics/limit_data_downstream", json={"attributes": {"bytes": 15}})
        sock.sendall(b"hijklmnopq")
        assert read_until_closed(sock) == b"hijklmno"  # 15 - 7 = 8 more bytes, then the close


def test_limit_data_zero_closes_on_first_chunk(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="limit_data", attributes={"bytes": 0})
    with connect(proxy_port) as sock:
        sock.sendall(b"x")
        assert read_until_closed(sock) == b""


def test_slicer_cuts_chunks_into_pieces_with_delay(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="slicer", attributes={"average_size": 10, "size_variation": 0, "delay": 20_000})
    with connect(proxy_port) as sock:
        start = time.monotonic()
        sock.sendall(b"s" * 100)
        sizes = []
        while sum(sizes) < 100:
            sizes.append(len(sock.recv(1000)))
        elapsed = (time.monotonic() - start) * 1000
    assert all(5 <= size <= 10 for size in sizes), sizes
    assert len(sizes) >= 10
    assert elapsed >= (len(sizes) - 1) * 20 - SLACK_MS


def test_noop_and_chained_links_keep_large_payloads_intact(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="noop")
    add_toxic(http, type="latency", stream="upstream", attributes={"latency": 0})
    payload = os.urandom(3 * 1024 * 1024)
    with connect(proxy_port) as sock:
        threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
        assert read_exactly(sock, len(payload)) == payload


def test_fast_path_keeps_large_payloads_intact_and_switches_to_chain_live(
    http: httpx.Client, proxy_port: int
) -> None:
    payload = os.urandom(4 * 1024 * 1024)
    with connect(proxy_port) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        received = read_exactly(sock, len(payload) // 2)
        add_toxic(http, type="noop")  # the rest flows through the chain, in order
        received += read_exactly(sock, len(payload) - len(received))
        sender.join(5)
    assert received == payload


def test_toxic_added_while_fast_path_is_back_pressured_keeps_flowing(
    http: httpx.Client, proxy_port: int
) -> None:
    payload = os.urandom(8 * 1024 * 1024)
    with connect(proxy_port) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        time.sleep(0.5)  # not reading: the echo backs up and the proxy pauses its reads
        add_toxic(http, type="noop")
        assert read_exactly(sock, len(payload)) == payload
        sender.join(5)


def test_live_link_returns_to_fast_path_when_its_toxics_are_gone(
    server: EmbeddedToxiproxy, http: httpx.Client, proxy_port: int
) -> None:
    links = server.api.proxies["echo"].toxics.links
    payload = os.urandom(6 * 1024 * 1024)
    with connect(proxy_port) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,), daemon=True)
        sender.start()
        received = read_exactly(sock, len(payload) // 3)
        add_toxic(http, type="latency", attributes={"latency": 1})
        add_toxic(http, type="slicer", stream="upstream", attributes={"average_size": 5000})
        assert not any(link.fast for link in links)
        received += read_exactly(sock, len(payload) // 3)
        http.post("/reset")
        assert all(link.fast for link in links)
        received += read_exactly(sock, len(payload) - len(received))
        sender.join(5)
    assert received == payload


def test_toxic_churn_on_streaming_connections_keeps_every_byte_in_order(
    http: httpx.Client, proxy_port: int
) -> None:
    rng = random.Random(3)
    kinds = [
        ("noop", {}),
        ("latency", {"latency": 1}),
        ("slicer", {"average_size": 3000, "size_variation": 500}),
        ("bandwidth", {"rate": 100_000}),
        ("slow_close", {"delay": 10}),
        ("limit_data", {"bytes": 10**12}),
    ]
    payload = os.urandom(8 * 1024 * 1024)
    results: list[bool] = []

    def stream() -> None:
        with connect(proxy_port) as sock:
            threading.Thread(target=sock.sendall, args=(payload,), daemon=True).start()
            results.append(read_exactly(sock, len(payload)) == payload)

    streams = [threading.Thread(target=stream) for _ in range(3)]
    for thread in streams:
        thread.start()
    names: list[str] = []
    for op in range(60):
        if rng.random() < 0.5 or not names:
            kind, attributes = rng.choice(kinds)
            stream_name = rng.choice(["upstream", "downstream"])
            add_toxic(
                http,
                name=f"t{op}",
                type=kind,
                stream=stream_name,
                toxicity=rng.choice([0, 0.5, 1]),
                attributes=attributes,
            )
            names.append(f"t{op}")
        elif rng.random() < 0.5:
            assert (
                http.patch(
                    f"/proxies/echo/toxics/{rng.choice(names)}", json={"toxicity": rng.random()}
                ).status_code
                == 200
            )
        else:
            assert (
                http.delete(f"/proxies/echo/toxics/{names.pop(rng.randrange(len(names)))}").status_code == 204
            )
        time.sleep(0.005)
    for thread in streams:
        thread.join(30)
    assert results == [True, True, True]


def test_removing_slow_close_lets_the_held_close_through(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="slow_close", attributes={"delay": 5000})
    with connect(proxy_port) as sock:
        round_trip(sock)
        sock.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        start = time.monotonic()
        http.delete("/proxies/echo/toxics/slow_close_downstream")
        assert read_until_closed(sock) == b""
        assert (time.monotonic() - start) * 1000 < 1000


def test_negative_values_behave_as_in_toxiproxy(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", attributes={"latency": -500, "jitter": -10})  # no wait
    add_toxic(
        http,
        type="slicer",
        stream="upstream",
        attributes={"average_size": 4, "size_variation": -2, "delay": -1},
    )
    with connect(proxy_port) as sock:
        assert round_trip(sock, b"0123456789") < 150
    http.post("/reset")
    add_toxic(http, type="limit_data", attributes={"bytes": -1})  # closes on the first chunk, passing nothing
    with connect(proxy_port) as sock:
        sock.sendall(b"x")
        assert read_until_closed(sock) == b""
