"""Every toxic's effect, measured on real loopback sockets through an echo upstream (spec sections 6 to 8).

Timing tolerances are behavioural, sized for a loaded 2-core machine: a toxic must add at least its
delay (minus 2 ms of timer slack) and at most ``SLACK_MS`` on top; bandwidth must land within 15 %.
"""

from __future__ import annotations

import errno
import hashlib
import socket
import statistics
import threading
import time

import pytest

from harness.toxiproxy.client import Proxy, ToxiproxyClient
from tests.toxiproxy._net import EchoServer, connect, elapsed_ms, read_to_end, recv_exactly, rtt_ms

SLACK_MS = 60.0  # scheduling noise allowed on top of a toxic's delay
EARLY_MS = 2.0  # timer granularity allowed below it


def assert_delay(measured_ms: float, expected_ms: float) -> None:
    assert expected_ms - EARLY_MS <= measured_ms <= expected_ms + SLACK_MS, (
        f"{measured_ms:.1f} ms, want ~{expected_ms}"
    )


def median_rtt(sock: socket.socket, samples: int = 5) -> float:
    return statistics.median(rtt_ms(sock) for _ in range(samples))


# --- latency ------------------------------------------------------------------------------------


def test_no_toxic_adds_next_to_nothing(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        payload = bytes(range(256)) * 64
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert median_rtt(sock) < 20


def test_latency_delays_each_round_trip(proxy: Proxy) -> None:
    with connect(proxy.port) as sock, proxy.toxic("latency", latency=100):
        assert_delay(median_rtt(sock), 100)


def test_latency_on_both_streams_adds_up(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        proxy.add_toxic("latency", latency=100)
        proxy.add_toxic("latency", stream="upstream", latency=50)
        assert_delay(median_rtt(sock, 3), 150)


def test_latency_does_not_pile_up_for_pipelined_writes(proxy: Proxy) -> None:
    """Each chunk waits from the moment it was read, so five writes 30 ms apart arrive 30 ms apart."""
    proxy.add_toxic("latency", latency=150)
    with connect(proxy.port) as sock:
        sent, arrived = [], []
        for index in range(5):
            sent.append(time.perf_counter())
            sock.sendall(bytes([index]))
            time.sleep(0.03)
        for index in range(5):
            assert recv_exactly(sock, 1) == bytes([index])
            arrived.append(time.perf_counter())
    for s, a in zip(sent[1:], arrived[1:], strict=True):
        assert_delay((a - s) * 1000, 150)


def test_jitter_spreads_delays_within_bounds(proxy: Proxy) -> None:
    proxy.add_toxic("latency", latency=100, jitter=40)
    with connect(proxy.port) as sock:
        samples = [rtt_ms(sock) for _ in range(15)]
    assert min(samples) >= 60 - EARLY_MS
    assert max(samples) <= 140 + SLACK_MS
    assert max(samples) - min(samples) > 15  # a uniform draw over 80 ms does not cluster


def test_toxic_applies_to_open_connections_and_updates_take_effect(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        assert median_rtt(sock, 3) < 50
        proxy.add_toxic("latency", name="slow", latency=120)
        assert_delay(median_rtt(sock, 3), 120)
        proxy.update_toxic("slow", toxicity=0)
        assert median_rtt(sock, 3) < 50


def test_negative_latency_means_no_wait(proxy: Proxy) -> None:
    proxy.add_toxic("latency", latency=-50)
    with connect(proxy.port) as sock:
        assert median_rtt(sock, 3) < 50


def test_toxicity_zero_never_applies(proxy: Proxy) -> None:
    proxy.add_toxic("latency", latency=300, toxicity=0)
    with connect(proxy.port) as sock:
        assert median_rtt(sock, 3) < 50


def test_removing_latency_releases_held_data_at_once(proxy: Proxy) -> None:
    proxy.add_toxic("latency", latency=3000)
    with connect(proxy.port) as sock:
        sock.sendall(b"held")
        time.sleep(0.1)
        with elapsed_ms() as t:
            proxy.remove_toxic("latency_downstream")
            assert recv_exactly(sock, 4) == b"held"
    assert t[0] < 1000


def test_toxicity_is_drawn_per_connection(proxy: Proxy) -> None:
    proxy.add_toxic("latency", latency=60, toxicity=0.5)
    delayed = 0
    for _ in range(30):
        with connect(proxy.port) as sock:
            delayed += rtt_ms(sock) >= 58
    assert 5 <= delayed <= 25  # binomial(30, 0.5): outside this range once in ~3000 runs


# --- bandwidth ----------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", ["downstream", "upstream"])
def test_bandwidth_limits_throughput(proxy: Proxy, stream: str) -> None:
    rate_kb, size = 200, 120_000  # 1 KB = 1000 bytes, so 600 ms
    proxy.add_toxic("bandwidth", stream=stream, rate=rate_kb)
    with connect(proxy.port) as sock, elapsed_ms() as t:
        sock.sendall(b"x" * size)
        recv_exactly(sock, size)
    expected = size / rate_kb
    assert expected * 0.85 <= t[0] <= expected * 1.15, (
        f"{t[0]:.0f} ms for {size} bytes, want {expected:.0f} ms"
    )


def test_bandwidth_zero_stalls_until_removed(proxy: Proxy) -> None:
    proxy.add_toxic("bandwidth", rate=0)
    with connect(proxy.port) as sock:
        sock.sendall(b"stalled")
        sock.settimeout(0.4)
        with pytest.raises(TimeoutError):
            sock.recv(16)
        sock.settimeout(5)
        proxy.remove_toxic("bandwidth_downstream")
        assert recv_exactly(sock, 7) == b"stalled"


# --- closing toxics -----------------------------------------------------------------------------


def test_reset_peer_present_at_connect_sends_rst(proxy: Proxy) -> None:
    proxy.add_toxic("reset_peer", timeout=100)
    with connect(proxy.port) as sock, elapsed_ms() as t:
        sock.sendall(b"trigger")
        data, _, error = read_to_end(sock)
    assert data == b""
    assert isinstance(error, ConnectionResetError) and error.errno == errno.ECONNRESET
    assert_delay(t[0], 100)


def test_reset_peer_leaves_idle_connections_alone(proxy: Proxy) -> None:
    proxy.add_toxic("reset_peer", timeout=0)
    with connect(proxy.port) as sock:
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)


def test_reset_peer_added_to_an_open_connection_closes_with_fin(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        assert rtt_ms(sock) < 100
        proxy.add_toxic("reset_peer", timeout=0)
        sock.sendall(b"trigger")
        assert read_to_end(sock) == (b"", [], None)


def test_limit_data_cuts_at_the_byte(proxy: Proxy) -> None:
    proxy.add_toxic("limit_data", bytes=10)
    with connect(proxy.port) as sock:
        sock.sendall(b"0123456789abcdefghij")
        data, _, error = read_to_end(sock)
    assert data == b"0123456789"
    assert error is None or isinstance(error, ConnectionResetError)


def test_limit_data_count_survives_an_update(proxy: Proxy) -> None:
    proxy.add_toxic("limit_data", bytes=10)
    with connect(proxy.port) as sock:
        sock.sendall(b"abcdefg")
        assert recv_exactly(sock, 7) == b"abcdefg"
        proxy.update_toxic("limit_data_downstream", bytes=15)
        sock.sendall(b"hijklmnopq")
        data, _, _ = read_to_end(sock)
    assert data == b"hijklmno"  # 7 + 8 = 15: the count carried over


def test_limit_data_zero_closes_on_first_chunk(proxy: Proxy) -> None:
    proxy.add_toxic("limit_data", bytes=0)
    with connect(proxy.port) as sock:
        sock.settimeout(0.2)
        with pytest.raises(TimeoutError):
            sock.recv(1)  # idle: stays open
        sock.settimeout(5)
        sock.sendall(b"x")
        assert read_to_end(sock)[0] == b""


def test_timeout_drops_data_and_closes_after_the_delay(proxy: Proxy) -> None:
    proxy.add_toxic("timeout", timeout=300)
    with connect(proxy.port) as sock, elapsed_ms() as t:
        sock.sendall(b"dropped")
        data, _, error = read_to_end(sock)
    assert (data, error) == (b"", None)
    assert_delay(t[0], 300)


def test_timeout_restarts_with_each_chunk(proxy: Proxy) -> None:
    proxy.add_toxic("timeout", timeout=300)
    with connect(proxy.port) as sock:
        for _ in range(3):  # 0, 150 and 300 ms: each dropped chunk restarts the 300 ms timer
            last_sent = time.monotonic()
            sock.sendall(b"dropped")
            time.sleep(0.15)
        assert read_to_end(sock) == (b"", [], None)
        closed_after_ms = (time.monotonic() - last_sent) * 1000
    # Measured from the last chunk, not from the end of the sleep: a sleep may overshoot.
    assert_delay(closed_after_ms, 300)


def test_timeout_upstream_never_reaches_the_upstream(proxy: Proxy, echo: EchoServer) -> None:
    proxy.add_toxic("timeout", stream="upstream", timeout=200)
    with connect(proxy.port) as sock, elapsed_ms() as t:
        sock.sendall(b"dropped")
        assert read_to_end(sock) == (b"", [], None)
    assert_delay(t[0], 200)


def test_timeout_zero_holds_until_removed_and_removal_closes(proxy: Proxy) -> None:
    proxy.add_toxic("timeout", timeout=0)
    with connect(proxy.port) as sock:
        sock.sendall(b"dropped")
        sock.settimeout(0.3)
        with pytest.raises(TimeoutError):
            sock.recv(1)
        sock.settimeout(5)
        with elapsed_ms() as t:
            proxy.remove_toxic("timeout_downstream")
            data, _, _ = read_to_end(sock)
    assert data == b""
    assert t[0] < 1000


def test_reset_closes_connections_held_by_a_timeout_toxic(api: ToxiproxyClient, proxy: Proxy) -> None:
    proxy.add_toxic("timeout", timeout=0)
    with connect(proxy.port) as sock:
        api.reset()
        assert read_to_end(sock)[0] == b""


def test_slow_close_holds_the_close_back(proxy: Proxy) -> None:
    def eof_after_half_close_ms() -> float:
        with connect(proxy.port) as sock, elapsed_ms() as t:
            sock.shutdown(socket.SHUT_WR)
            assert read_to_end(sock)[0] == b""
        return t[0]

    assert eof_after_half_close_ms() < 100
    proxy.add_toxic("slow_close", delay=300)
    assert_delay(eof_after_half_close_ms(), 300)


def test_slicer_cuts_chunks_into_delayed_pieces(proxy: Proxy) -> None:
    payload = bytes(range(100))
    proxy.add_toxic("slicer", average_size=10, size_variation=0, delay=20_000)  # delay in µs
    with connect(proxy.port) as sock, elapsed_ms() as t:
        sock.sendall(payload)
        data, pieces = b"", []
        while len(data) < len(payload):
            chunk = sock.recv(1024)
            assert chunk
            data += chunk
            pieces.append(len(chunk))
    assert data == payload
    assert len(pieces) >= 8, pieces
    assert statistics.median(pieces) <= 10, pieces
    assert t[0] >= 8 * 20  # every piece is followed by the 20 ms delay


def test_noop_passes_data_unchanged(proxy: Proxy) -> None:
    proxy.add_toxic("noop")
    payload = bytes(range(256)) * 100
    with connect(proxy.port) as sock:
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload


def test_many_parallel_connections_keep_their_bytes(proxy: Proxy) -> None:
    payloads = [bytes([i]) * 65_536 + bytes(range(256)) for i in range(20)]
    socks = [connect(proxy.port) for _ in payloads]
    try:
        for sock, payload in zip(socks, payloads, strict=True):
            sock.sendall(payload)
        for sock, payload in zip(socks, payloads, strict=True):
            assert recv_exactly(sock, len(payload)) == payload
    finally:
        for sock in socks:
            sock.close()


def test_large_transfer_is_intact(proxy: Proxy) -> None:
    payload = hashlib.sha256(b"seed").digest() * 131_072  # 4 MiB, not a repeating byte
    with connect(proxy.port) as sock:
        sender = threading.Thread(target=sock.sendall, args=(payload,))
        sender.start()
        received = recv_exactly(sock, len(payload))
        sender.join()
    assert hashlib.sha256(received).digest() == hashlib.sha256(payload).digest()


# --- proxy state --------------------------------------------------------------------------------


def test_down_refuses_connections_then_comes_back_on_the_same_port(proxy: Proxy) -> None:
    port = proxy.port
    with proxy.down(), pytest.raises(ConnectionRefusedError):
        connect(port)
    assert proxy.enabled and proxy.port == port
    with connect(port) as sock:
        assert rtt_ms(sock) < 100


def test_disable_closes_open_connections(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        assert rtt_ms(sock) < 100
        with elapsed_ms() as t:
            proxy.disable()
            data, _, error = read_to_end(sock)
    assert data == b""
    assert error is None or isinstance(error, ConnectionResetError)
    assert t[0] < 1000


def test_upstream_change_closes_connections_and_keeps_toxics(proxy: Proxy, echo: EchoServer) -> None:
    other = EchoServer()
    try:
        proxy.add_toxic("noop")
        with connect(proxy.port) as sock:
            assert rtt_ms(sock) < 100
            proxy.update(upstream=other.address)
            assert read_to_end(sock)[0] == b""
        with connect(proxy.port) as sock:
            assert rtt_ms(sock) < 100
        assert other.accepted == 1
        assert [t.name for t in proxy.toxics()] == ["noop_downstream"]
    finally:
        other.close()


def test_listen_that_resolves_to_the_same_address_keeps_connections(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        assert rtt_ms(sock) < 100
        proxy.update(listen=f"localhost:{proxy.port}")  # no change since 2.12.0: no restart
        assert proxy.listen == f"127.0.0.1:{proxy.port}"
        assert rtt_ms(sock) < 100


def test_delete_closes_connections_and_refuses_new_ones(proxy: Proxy) -> None:
    with connect(proxy.port) as sock:
        assert rtt_ms(sock) < 100
        proxy.delete()
        assert read_to_end(sock)[0] == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy.port)


def test_toxic_added_while_disabled_applies_after_enable(proxy: Proxy) -> None:
    with proxy.down():
        proxy.add_toxic("latency", latency=100)
    with connect(proxy.port) as sock:
        assert_delay(median_rtt(sock, 3), 100)


def test_dead_upstream_gives_open_then_close(api: ToxiproxyClient) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        dead = probe.getsockname()[1]  # closed again on exit: nothing listens there
    proxy = api.create_proxy("dead", f"127.0.0.1:{dead}")
    with connect(proxy.port) as sock:
        data, _, error = read_to_end(sock)
    assert data == b""
    assert error is None or isinstance(error, ConnectionResetError)
