"""The HTTP API of the embedded server: shapes, key order, status codes and Toxiproxy's exact error bodies."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from harness.toxiproxy.server import EmbeddedToxiproxy
from tests.toxiproxy_embedded._helpers import add_toxic, connect, read_until_closed, round_trip

ERROR_HEADERS = {"content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff"}


def error_body(message: str, status: int) -> bytes:
    return json.dumps({"error": message, "status": status}, separators=(",", ":")).encode() + b"\n"


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status
    assert response.content == error_body(message, status)
    for name, value in ERROR_HEADERS.items():
        assert response.headers[name] == value
    assert len(response.headers["x-toxiproxy-request-id"]) == 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_version_body_and_content_type(http: httpx.Client) -> None:
    response = http.get("/version")
    assert response.status_code == 200
    assert response.content == b'{"version": "2.12.0"}\n'
    assert response.headers["content-type"] == "application/json;charset=utf-8"


def test_proxy_shape_and_key_order(http: httpx.Client, echo: object) -> None:
    response = http.post("/proxies", json={"name": "a", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:9"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    port = response.json()["listen"].rsplit(":", 1)[1]
    assert port != "0"
    expected = (
        f'{{"name":"a","listen":"127.0.0.1:{port}","upstream":"127.0.0.1:9","enabled":true,'
        '"Logger":{},"toxics":[]}'
    )
    assert response.content == expected.encode()
    assert http.get("/proxies").content == b'{"a":' + expected.encode() + b"}"


def test_proxy_index_is_sorted_by_name(http: httpx.Client) -> None:
    for name in ("zeta", "alpha", "mid"):
        http.post("/proxies", json={"name": name, "upstream": "127.0.0.1:9", "enabled": False})
    assert list(http.get("/proxies").json()) == ["alpha", "mid", "zeta"]


def test_toxic_shape_defaults_and_listing_order(http: httpx.Client, proxy_port: int) -> None:
    down = add_toxic(http, type="latency", attributes={"latency": 5})
    assert json.dumps(down, separators=(",", ":")) == (
        '{"attributes":{"latency":5,"jitter":0},"name":"latency_downstream","type":"latency",'
        '"stream":"downstream","toxicity":1}'
    )
    add_toxic(http, type="slicer", stream="UpStream", toxicity=0.1, attributes={"average_size": 3})
    add_toxic(http, type="noop", stream="upstream")
    listing = http.get("/proxies/echo/toxics").json()
    assert [t["name"] for t in listing] == ["slicer_UpStream", "noop_upstream", "latency_downstream"]
    assert listing[0]["stream"] == "UpStream"
    assert listing[0]["attributes"] == {"average_size": 3, "size_variation": 0, "delay": 0}
    assert listing[1]["attributes"] == {}
    assert b'"toxicity":0.1' in http.get("/proxies/echo/toxics/slicer_UpStream").content
    assert http.get("/proxies/echo").json()["toxics"] == listing


def test_status_codes(http: httpx.Client, proxy_port: int) -> None:
    assert http.post("/proxies/echo/toxics", json={"type": "noop"}).status_code == 200
    assert http.patch("/proxies/echo/toxics/noop_downstream", json={}).status_code == 200
    assert http.post("/proxies/echo/toxics/noop_downstream", json={}).status_code == 200
    deleted = http.delete("/proxies/echo/toxics/noop_downstream")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers
    assert http.post("/reset").status_code == 204
    assert http.post("/populate", content=b"[]").content == b'{"proxies":null}'
    assert http.delete("/proxies/echo").status_code == 204


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("POST", "/proxies", b"", 400, "bad request body: EOF"),
        ("POST", "/proxies", b"{", 400, "bad request body: unexpected EOF"),
        (
            "POST",
            "/proxies",
            b"xyz",
            400,
            "bad request body: invalid character 'x' looking for beginning of value",
        ),
        (
            "POST",
            "/proxies",
            b"[]",
            400,
            "bad request body: json: cannot unmarshal array into Go value of type toxiproxy.Proxy",
        ),
        (
            "POST",
            "/proxies",
            b'{"name":"a","enabled":"x"}',
            400,
            "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool",
        ),
        ("POST", "/proxies", b'{"upstream":"x"}', 400, "missing required field: name"),
        ("POST", "/proxies", b'{"name":"x"}', 400, "missing required field: upstream"),
        ("POST", "/proxies", b'{"name":"echo","upstream":"x"}', 409, "proxy already exists"),
        (
            "POST",
            "/proxies",
            b'{"name":"b","upstream":"x","listen":"nonsense"}',
            500,
            "listen tcp: address nonsense: missing port in address",
        ),
        ("GET", "/proxies/nope", b"", 404, "proxy not found"),
        ("GET", "/proxies/nope/toxics", b"", 404, "proxy not found"),
        ("GET", "/proxies/echo/toxics/nope", b"", 404, "toxic not found"),
        ("DELETE", "/proxies/echo/toxics/nope", b"", 404, "toxic not found"),
        ("PATCH", "/proxies/echo", b"", 400, "bad request body: EOF"),
        ("PATCH", "/proxies/echo", b'{"listen":"bogus"}', 500, "address bogus: missing port in address"),
        ("POST", "/proxies/echo/toxics", b"", 400, "bad request body: EOF"),
        (
            "POST",
            "/proxies/echo/toxics",
            b'{"type":"latency","stream":"sideways"}',
            400,
            "stream was invalid, can be either upstream or downstream",
        ),
        ("POST", "/proxies/echo/toxics", b'{"type":"nope"}', 400, "invalid toxic type"),
        ("POST", "/proxies/echo/toxics", b'{"type":"Latency"}', 400, "invalid toxic type"),
        (
            "POST",
            "/proxies/echo/toxics",
            b'{"type":"latency","attributes":{"latency":100.0}}',
            400,
            "bad request body: json: cannot unmarshal number 100.0 into Go struct field "
            "LatencyToxic.attributes.latency of type int64",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            b'{"type":"slicer","attributes":{"delay":1.5}}',
            400,
            "bad request body: json: cannot unmarshal number 1.5 into Go struct field "
            "SlicerToxic.attributes.delay of type int",
        ),
        (
            "POST",
            "/proxies/echo/toxics",
            b'{"type":"latency","toxicity":"x"}',
            400,
            "bad request body: json: cannot unmarshal string into Go struct field "
            "ToxicWrapper.toxicity of type float32",
        ),
    ],
)
def test_error_catalogue(
    http: httpx.Client, proxy_port: int, method: str, path: str, body: bytes, status: int, message: str
) -> None:
    assert_error(http.request(method, path, content=body), status, message)


@pytest.mark.parametrize(
    ("toxic", "attributes", "message"),
    [
        ("bandwidth", {"rate": -1}, "invalid attribute: bandwidth rate must be at least 0, got -1"),
        ("slicer", {"average_size": 0}, "invalid attribute: slicer average_size must be at least 1, got 0"),
        ("slicer", {"average_size": -3}, "invalid attribute: slicer average_size must be at least 1, got -3"),
        (
            "slicer",
            {"average_size": 5, "size_variation": -5},
            "invalid attribute: slicer average_size + size_variation must be at least 1, got 0",
        ),
    ],
)
def test_values_that_crash_the_real_server_are_refused(
    http: httpx.Client, proxy_port: int, toxic: str, attributes: dict[str, int], message: str
) -> None:
    response = http.post("/proxies/echo/toxics", json={"type": toxic, "attributes": attributes})
    assert_error(response, 400, message)
    assert http.get("/proxies/echo/toxics").json() == []


@pytest.mark.parametrize(
    ("toxic", "attributes"),
    [
        ("latency", {"latency": -5, "jitter": -1}),
        ("slow_close", {"delay": -1}),
        ("timeout", {"timeout": -1}),
        ("reset_peer", {"timeout": -1}),
        ("limit_data", {"bytes": -1}),
        ("slicer", {"average_size": 5, "size_variation": -2, "delay": -5}),
    ],
)
def test_negative_values_the_real_server_survives_are_accepted(
    http: httpx.Client, proxy_port: int, toxic: str, attributes: dict[str, int]
) -> None:
    created = add_toxic(http, type=toxic, attributes=attributes)
    assert attributes.items() <= created["attributes"].items()  # type: ignore[union-attr]


def test_invalid_update_is_refused_and_changes_nothing(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="bandwidth", attributes={"rate": 50})
    response = http.patch("/proxies/echo/toxics/bandwidth_downstream", json={"attributes": {"rate": -5}})
    assert_error(response, 400, "invalid attribute: bandwidth rate must be at least 0, got -5")
    assert http.get("/proxies/echo/toxics/bandwidth_downstream").json()["attributes"] == {"rate": 50}


def raw_get(server: EmbeddedToxiproxy, target: str) -> bytes:
    """The raw response to ``GET target`` (httpx would normalise the path)."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_until_closed(sock)


def test_unclean_paths_are_redirected_like_gorilla_mux(server: EmbeddedToxiproxy) -> None:
    assert raw_get(server, "//proxies").startswith(b"HTTP/1.1 301 Moved Permanently\r\n")
    assert b"\r\nLocation: /proxies\r\n" in raw_get(server, "//proxies")
    assert b"\r\nLocation: /version\r\n" in raw_get(server, "/proxies/../version")


def test_router_404_405_and_browser_block(http: httpx.Client) -> None:
    missing = http.get("/nope")
    assert (missing.status_code, missing.content) == (404, b"404 page not found\n")
    assert "x-toxiproxy-request-id" not in missing.headers
    assert http.get("/proxies/").status_code == 404
    wrong = http.delete("/proxies")
    assert (wrong.status_code, wrong.content, wrong.headers["content-length"]) == (405, b"", "0")
    assert "x-toxiproxy-request-id" not in wrong.headers
    assert http.head("/proxies").status_code == 405
    blocked = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert (blocked.status_code, blocked.content) == (403, b"User agent not allowed\n")
    assert len(blocked.headers["x-toxiproxy-request-id"]) == 20


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/proxies", b'{"enabled":tru}', "invalid character '}' in literal true (expecting 'e')"),
        ("/proxies", b'{"name":"a" "b"}', "invalid character '\"' after object key:value pair"),
        ("/proxies", b'{"name" 1}', "invalid character '1' after object key"),
        ("/proxies", b'{"enabled":NaN}', "invalid character 'N' looking for beginning of value"),
        (
            "/proxies/echo/toxics/latency_downstream",
            b'{"attributes":{"latency":"a"},"toxicity":"c"}',
            "json: cannot unmarshal string into Go struct field LatencyToxic.attributes.latency"
            " of type int64",
        ),
        (
            "/proxies/echo/toxics/latency_downstream",
            b'{"toxicity":"c","attributes":{"latency":"a"}}',
            "json: cannot unmarshal string into Go struct field .toxicity of type float32",
        ),
        (
            "/proxies/echo/toxics/latency_downstream",
            b'{"attributes":5}',
            "json: cannot unmarshal number into Go struct field .attributes of type toxics.LatencyToxic",
        ),
        (
            "/populate",
            b'[{"name":"z","upstream":"x","enabled":"no"}]',
            "json: cannot unmarshal string into Go struct field .enabled of type bool",
        ),
        (
            "/populate",
            b'[{"name":1}]',
            "json: cannot unmarshal number into Go struct field .Proxy.name of type string",
        ),
    ],
)
def test_go_decoder_messages(
    http: httpx.Client, proxy_port: int, path: str, body: bytes, message: str
) -> None:
    add_toxic(http, type="latency")
    response = http.post(path, content=body)
    assert response.status_code == 400
    assert response.json()["error"] == f"bad request body: {message}"


def test_unpaired_surrogate_becomes_replacement_character(http: httpx.Client) -> None:
    created = http.post("/proxies", content=b'{"name":"bad\\ud800","upstream":"x","enabled":false}')
    assert created.json()["name"] == "bad\ufffd"


def test_ipv4_wildcard_listens_dual_stack_like_go(http: httpx.Client) -> None:
    created = http.post("/proxies", json={"name": "w", "upstream": "x", "listen": "0.0.0.0:0"})
    assert created.json()["listen"].startswith("[::]:")


def test_json_decoding_rules(http: httpx.Client, echo: object) -> None:
    # case-insensitive keys, trailing bytes ignored, null means default, unknown keys ignored
    body = b'{"NAME":"p","UpStream":"127.0.0.1:9","listen":"127.0.0.1:0","enabled":null,"junk":1}trailing'
    created = http.post("/proxies", content=body)
    assert created.status_code == 201
    assert created.json()["enabled"] is True
    duplicate = http.post("/proxies", content=b'{"name":"q","Name":"r","upstream":"x","enabled":false}')
    assert duplicate.json()["name"] == "r"


def test_percent_decoded_names(http: httpx.Client) -> None:
    http.post("/proxies", json={"name": "a b", "upstream": "x", "enabled": False})
    assert http.get("/proxies/a%20b").json()["name"] == "a b"
    assert http.get("/proxies/a%2Fb").status_code == 404


def test_keep_alive_serves_many_requests_on_one_connection(server: EmbeddedToxiproxy) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        request = b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(request * 3)
        data = b""
        while data.count(b'{"version": "2.12.0"}\n') < 3:
            chunk = sock.recv(4096)
            assert chunk
            data += chunk
        assert data.count(b"HTTP/1.1 200 OK") == 3


def test_create_disabled_keeps_listen_as_given(http: httpx.Client) -> None:
    response = http.post(
        "/proxies", json={"name": "d", "upstream": "x", "listen": "localhost:0", "enabled": False}
    )
    assert response.json()["listen"] == "localhost:0"
    assert response.json()["enabled"] is False


def test_bind_conflict_is_500_and_nothing_is_stored(http: httpx.Client) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        response = http.post("/proxies", json={"name": "x", "upstream": "y", "listen": f"127.0.0.1:{port}"})
        assert_error(response, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert http.get("/proxies").json() == {}


def test_update_merges_toxic_fields_and_ignores_name_type_stream(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", attributes={"latency": 10, "jitter": 2})
    body = {
        "attributes": {"latency": 20},
        "toxicity": 0.5,
        "name": "x",
        "type": "bandwidth",
        "stream": "upstream",
    }
    updated = http.patch("/proxies/echo/toxics/latency_downstream", json=body).json()
    assert updated == {
        "attributes": {"latency": 20, "jitter": 2},
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.5,
    }
    # a type error still leaves the well-typed fields written, as in Toxiproxy
    bad = http.patch(
        "/proxies/echo/toxics/latency_downstream", json={"attributes": {"latency": 7, "jitter": "x"}}
    )
    assert bad.status_code == 400
    assert http.get("/proxies/echo/toxics/latency_downstream").json()["attributes"] == {
        "latency": 7,
        "jitter": 2,
    }


def test_duplicate_toxic_name_in_other_direction_conflicts(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="noop", name="same")
    assert_error(
        http.post("/proxies/echo/toxics", json={"type": "noop", "name": "same", "stream": "upstream"}),
        409,
        "toxic already exists",
    )


def test_disable_refuses_and_closes_then_enable_rebinds(http: httpx.Client, proxy_port: int) -> None:
    sock = connect(proxy_port)
    round_trip(sock)
    assert http.patch("/proxies/echo", json={"enabled": False}).json()["enabled"] is False
    assert read_until_closed(sock) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(proxy_port)
    enabled = http.patch("/proxies/echo", json={"enabled": True}).json()
    assert enabled["enabled"] is True
    with connect(int(enabled["listen"].rsplit(":", 1)[1])) as again:
        round_trip(again)
    sock.close()


def test_listen_change_closes_connections_and_keeps_toxics(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="noop")
    sock = connect(proxy_port)
    round_trip(sock)
    new_port = free_port()
    moved = http.patch("/proxies/echo", json={"listen": f"127.0.0.1:{new_port}"}).json()
    assert moved["listen"] == f"127.0.0.1:{new_port}"
    assert moved["enabled"] is True
    assert [t["name"] for t in moved["toxics"]] == ["noop_downstream"]
    assert read_until_closed(sock) == b""
    with connect(new_port) as again:
        round_trip(again)
    sock.close()


def test_same_address_spelled_differently_does_not_restart(http: httpx.Client, proxy_port: int) -> None:
    sock = connect(proxy_port)
    round_trip(sock)
    http.patch("/proxies/echo", json={"listen": f"localhost:{proxy_port}"})
    round_trip(sock)  # still open
    sock.close()


def test_failed_listen_change_leaves_proxy_disabled_with_new_address(
    http: httpx.Client, proxy_port: int
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert http.patch("/proxies/echo", json={"listen": f"127.0.0.1:{port}"}).status_code == 500
    proxy = http.get("/proxies/echo").json()
    assert (proxy["enabled"], proxy["listen"]) == (False, f"127.0.0.1:{port}")


def test_delete_closes_connections(http: httpx.Client, proxy_port: int) -> None:
    sock = connect(proxy_port)
    round_trip(sock)
    assert http.delete("/proxies/echo").status_code == 204
    assert read_until_closed(sock) == b""
    assert http.get("/proxies/echo").status_code == 404
    sock.close()


def test_populate_keeps_identical_replaces_changed_and_stops_at_failure(
    http: httpx.Client, proxy_port: int
) -> None:
    add_toxic(http, type="noop")
    same = {
        "name": "echo",
        "listen": f"127.0.0.1:{proxy_port}",
        "upstream": http.get("/proxies/echo").json()["upstream"],
    }
    response = http.post(
        "/populate",
        json=[{**same, "enabled": False}, {"name": "new", "upstream": "x", "listen": "127.0.0.1:0"}],
    )
    assert response.status_code == 201
    proxies = response.json()["proxies"]
    assert proxies[0]["enabled"] is True and proxies[0]["toxics"]  # identical: kept as is
    assert proxies[1]["name"] == "new"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        failed = http.post(
            "/populate",
            json=[
                {"name": "first", "upstream": "x", "listen": "127.0.0.1:0"},
                {"name": "bad", "upstream": "x", "listen": f"127.0.0.1:{port}"},
                {"name": "never", "upstream": "x"},
            ],
        )
    assert failed.status_code == 500
    assert failed.headers["content-type"] == "application/json"
    body = failed.json()
    assert body["error"] == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == ["first"]
    assert "never" not in http.get("/proxies").json()
    checked = http.post("/populate", json=[{"name": "ok", "upstream": "x"}, {"name": "no-upstream"}])
    assert (
        checked.content
        == b'{"error":"missing required field: upstream at proxy 2","status":400,"proxies":null}'
    )
    assert "ok" not in http.get("/proxies").json()


def test_reset_enables_and_removes_toxics_but_keeps_proxies(http: httpx.Client, proxy_port: int) -> None:
    add_toxic(http, type="latency", attributes={"latency": 1})
    http.patch("/proxies/echo", json={"enabled": False})
    assert http.post("/reset", content=b'{"garbage":').status_code == 204
    proxy = http.get("/proxies/echo").json()
    assert (proxy["enabled"], proxy["toxics"]) == (True, [])


def test_upstream_dial_failure_closes_client(http: httpx.Client) -> None:
    created = http.post(
        "/proxies", json={"name": "dead", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{free_port()}"}
    )
    with connect(int(created.json()["listen"].rsplit(":", 1)[1])) as sock:
        assert read_until_closed(sock) == b""


def test_stop_closes_everything(echo: object) -> None:
    with EmbeddedToxiproxy.running(port=0) as server, httpx.Client(base_url=server.url) as client:
        port = int(
            client.post("/proxies", json={"name": "e", "listen": "127.0.0.1:0", "upstream": echo.address})  # type: ignore[attr-defined]
            .json()["listen"]
            .rsplit(":", 1)[1]
        )
        sock = connect(port)
        round_trip(sock)
    assert read_until_closed(sock) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(port)
    sock.close()


def test_running_on_a_taken_port_raises_and_leaves_no_thread() -> None:
    def server_threads() -> int:
        return sum(thread.name == "embedded-toxiproxy" for thread in threading.enumerate())

    before = server_threads()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError), EmbeddedToxiproxy.running(port=busy.getsockname()[1]):
            pass
    assert server_threads() == before


def test_closed_connections_leave_no_state_behind(
    server: EmbeddedToxiproxy, http: httpx.Client, proxy_port: int
) -> None:
    add_toxic(http, type="latency", stream="upstream", attributes={"latency": 0})
    for _ in range(100):
        with connect(proxy_port) as sock:
            round_trip(sock)
    proxy = server.api.proxies["echo"]
    deadline = time.monotonic() + 5
    while (proxy.connections or proxy.toxics.links) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not proxy.connections
    assert not proxy.toxics.links


def test_chunked_and_expect_continue_request_bodies(server: EmbeddedToxiproxy) -> None:
    port = int(server.url.rsplit(":", 1)[1])
    body = b'{"name":"c","upstream":"x","enabled":false}'
    head = b"POST /proxies HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(head + b"Connection: close\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 201 Created\r\n")
    assert response.endswith(b'"enabled":false,"Logger":{},"toxics":[]}')


def test_bad_percent_escape_is_a_plain_400_and_null_populate_is_empty(
    server: EmbeddedToxiproxy, http: httpx.Client
) -> None:
    response = raw_get(server, "/proxies/%zz")
    assert response.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert response.endswith(b"\r\n\r\n400 Bad Request")
    populated = http.post("/populate", content=b"null")
    assert (populated.status_code, populated.content) == (201, b'{"proxies":null}')
