"""Wire contract of the HTTP API (spec sections 2 to 5, 7.2, 9), checked with raw HTTP on both servers.

Raw ``httpx`` is used on purpose: our client would hide the exact status codes, bodies and headers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from harness.toxiproxy.client import ToxiproxyClient
from tests.toxiproxy.conftest import EMBEDDED, REAL, Server

PROXY_KEYS = ["name", "listen", "upstream", "enabled", "Logger", "toxics"]
TOXIC_KEYS = ["attributes", "name", "type", "stream", "toxicity"]
ERROR_TYPE = "text/plain; charset=utf-8"
UPSTREAM = "127.0.0.1:9"  # never dialled: no test here opens a connection through a proxy


@pytest.fixture
def http(server: Server, api: ToxiproxyClient) -> Iterator[httpx.Client]:
    """Raw HTTP on an empty server (``api`` clears the proxy table)."""
    with httpx.Client(base_url=server.url, timeout=5.0, trust_env=False) as client:
        yield client


def create(http: httpx.Client, name: str = "p", **fields: object) -> dict[str, object]:
    response = http.post(
        "/proxies", json={"name": name, "upstream": UPSTREAM, "listen": "127.0.0.1:0", **fields}
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def assert_error(response: httpx.Response, status: int, message: str) -> None:
    """Toxiproxy's error shape: JSON plus one newline, sent as text/plain (spec section 2)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == ERROR_TYPE
    assert response.text == json.dumps({"error": message, "status": status}, separators=(",", ":")) + "\n"


# --- version, routing, middleware ---------------------------------------------------------------


def test_version_body_and_content_type(server: Server, http: httpx.Client) -> None:
    # Deliberate difference: a `go install` build reports "git", the embedded server its release.
    expected = {REAL: "git", EMBEDDED: "2.12.0"}[server.kind]
    response = http.get("/version")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.text == '{"version": "' + expected + '"}\n'


def test_unknown_route_is_plain_404_without_request_id(http: httpx.Client) -> None:
    for path in ("/nope", "/proxies/", "/proxies/p/toxics/t/extra"):
        response = http.get(path)
        assert response.status_code == 404
        assert response.text == "404 page not found\n"
        assert response.headers["content-type"] == ERROR_TYPE
        assert "x-toxiproxy-request-id" not in response.headers


def test_metrics_route_is_absent_without_metrics_flags(http: httpx.Client) -> None:
    response = http.get("/metrics")
    assert (response.status_code, response.text) == (404, "404 page not found\n")


def test_malformed_percent_encoding_is_a_plain_400(http: httpx.Client) -> None:
    response = http.get("/proxies/%zz")
    assert (response.status_code, response.text) == (400, "400 Bad Request")


def test_wrong_method_is_empty_405(http: httpx.Client) -> None:
    for method, path in (
        ("PUT", "/proxies"),
        ("DELETE", "/version"),
        ("GET", "/reset"),
        ("HEAD", "/proxies"),
    ):
        response = http.request(method, path)
        assert response.status_code == 405, (method, path)
        assert response.content == b""
        assert "content-type" not in response.headers


def test_matched_routes_carry_a_request_id_even_on_errors(http: httpx.Client) -> None:
    ids = {
        http.get("/proxies").headers["x-toxiproxy-request-id"],
        http.get("/proxies/nope").headers["x-toxiproxy-request-id"],
    }
    assert len(ids) == 2
    assert all(len(i) == 20 and i.isalnum() for i in ids)


def test_browser_user_agent_is_refused(http: httpx.Client) -> None:
    response = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"})
    assert response.status_code == 403
    assert response.text == "User agent not allowed\n"
    assert http.get("/proxies", headers={"User-Agent": "curl/8 Mozilla/5.0"}).status_code == 200


# --- proxies ------------------------------------------------------------------------------------


def test_proxy_shape_key_order_and_bound_listen(http: httpx.Client) -> None:
    response = http.post("/proxies", json={"name": "p", "upstream": UPSTREAM, "listen": "127.0.0.1:0"})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert not response.text.endswith("\n")
    body = response.json()
    assert list(body) == PROXY_KEYS
    assert body["Logger"] == {} and body["toxics"] == [] and body["enabled"] is True
    host, port = body["listen"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert body["upstream"] == UPSTREAM  # stored as sent, never resolved
    assert http.get("/proxies/p").json() == body


def test_list_is_an_object_sorted_by_name(http: httpx.Client) -> None:
    assert http.get("/proxies").text == "{}"
    for name in ("b", "c", "a"):
        create(http, name)
    listed = http.get("/proxies").json()
    assert list(listed) == ["a", "b", "c"]
    assert all(list(p) == PROXY_KEYS for p in listed.values())


def test_disabled_proxy_keeps_listen_as_sent(http: httpx.Client) -> None:
    body = create(http, "off", enabled=False, listen="localhost:0")
    assert body["enabled"] is False and body["listen"] == "localhost:0"


def test_create_errors(http: httpx.Client) -> None:
    create(http, "p")
    assert_error(http.post("/proxies", json={"name": "p", "upstream": UPSTREAM}), 409, "proxy already exists")
    assert_error(http.post("/proxies", json={"upstream": UPSTREAM}), 400, "missing required field: name")
    assert_error(http.post("/proxies", json={"name": "q"}), 400, "missing required field: upstream")
    assert_error(http.post("/proxies", content=b""), 400, "bad request body: EOF")
    wrong = http.post("/proxies", content=b'{"name":"q","upstream":"x:1","enabled":"yes"}')
    assert_error(
        wrong,
        400,
        "bad request body: json: cannot unmarshal string into Go struct field Proxy.enabled of type bool",
    )
    array = http.post("/proxies", content=b"[]")
    assert array.status_code == 400 and array.json()["error"].startswith("bad request body: ")
    assert list(http.get("/proxies").json()) == ["p"]


def test_bind_failure_is_500_with_the_os_error_and_stores_nothing(http: httpx.Client) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = http.post(
            "/proxies", json={"name": "p", "upstream": UPSTREAM, "listen": f"127.0.0.1:{port}"}
        )
    assert_error(response, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    assert http.get("/proxies").json() == {}


def test_keys_are_case_insensitive_unknown_keys_and_trailing_bytes_ignored(http: httpx.Client) -> None:
    body = (
        b'{"NAME":"p","UpStream":"127.0.0.1:9","Listen":"127.0.0.1:0","bogus":1,'
        b'"toxics":[{"type":"latency"}]}xyz'
    )
    response = http.post("/proxies", content=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["name"], created["upstream"], created["toxics"]) == ("p", UPSTREAM, [])


def test_of_two_keys_differing_in_case_the_later_wins(http: httpx.Client) -> None:
    body = b'{"name":"first","NAME":"second","upstream":"127.0.0.1:9","listen":"127.0.0.1:0"}'
    assert http.post("/proxies", content=body).json()["name"] == "second"


def test_null_fields_take_defaults(http: httpx.Client) -> None:
    body = create(http, "p", enabled=None)
    assert body["enabled"] is True


def test_percent_encoded_names_address_the_proxy(http: httpx.Client) -> None:
    create(http, "a b")
    assert http.get("/proxies/a%20b").json()["name"] == "a b"


def test_update_merges_ignores_name_and_accepts_post_and_patch(http: httpx.Client) -> None:
    created = create(http, "p")
    patched = http.patch("/proxies/p", json={"name": "renamed", "upstream": "127.0.0.1:10"})
    assert patched.status_code == 200
    body = patched.json()
    assert (body["name"], body["upstream"], body["enabled"]) == ("p", "127.0.0.1:10", True)
    assert body["listen"] == created["listen"]  # upstream change restarts on the same address
    posted = http.post("/proxies/p", json={"enabled": False})
    assert posted.status_code == 200 and posted.json()["enabled"] is False
    assert_error(http.patch("/proxies/p", content=b""), 400, "bad request body: EOF")
    assert_error(http.patch("/proxies/nope", json={"enabled": True}), 404, "proxy not found")
    assert list(http.get("/proxies").json()) == ["p"]


def test_failed_listen_change_leaves_the_proxy_disabled_at_the_new_address(http: httpx.Client) -> None:
    create(http, "p")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        response = http.patch("/proxies/p", json={"listen": f"127.0.0.1:{port}"})
    assert_error(response, 500, f"listen tcp 127.0.0.1:{port}: bind: address already in use")
    stored = http.get("/proxies/p").json()
    assert (stored["enabled"], stored["listen"]) == (False, f"127.0.0.1:{port}")


def test_delete_is_204_without_body(http: httpx.Client) -> None:
    create(http, "p")
    response = http.delete("/proxies/p")
    assert response.status_code == 204 and response.content == b""
    assert "content-type" not in response.headers
    assert_error(http.delete("/proxies/p"), 404, "proxy not found")
    assert_error(http.get("/proxies/p/toxics"), 404, "proxy not found")


# --- toxics -------------------------------------------------------------------------------------

DEFAULT_ATTRIBUTES = {
    "latency": {"latency": 0, "jitter": 0},
    "bandwidth": {"rate": 0},
    "slow_close": {"delay": 0},
    "timeout": {"timeout": 0},
    "reset_peer": {"timeout": 0},
    "slicer": {"average_size": 1, "size_variation": 0, "delay": 0},
    "limit_data": {"bytes": 0},
    "noop": {},
}


@pytest.mark.parametrize("toxic_type", list(DEFAULT_ATTRIBUTES))
def test_toxic_shape_lists_every_attribute(http: httpx.Client, toxic_type: str) -> None:
    create(http, "p")
    attributes = {"average_size": 1} if toxic_type == "slicer" else {}
    response = http.post("/proxies/p/toxics", json={"type": toxic_type, "attributes": attributes})
    assert response.status_code == 200  # not 201
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == TOXIC_KEYS
    assert body == {
        "attributes": DEFAULT_ATTRIBUTES[toxic_type],
        "name": f"{toxic_type}_downstream",
        "type": toxic_type,
        "stream": "downstream",
        "toxicity": 1,
    }
    assert http.get(f"/proxies/p/toxics/{toxic_type}_downstream").json() == body


def test_stream_is_echoed_as_spelled(http: httpx.Client) -> None:
    create(http, "p")
    body = http.post(
        "/proxies/p/toxics", json={"type": "latency", "stream": "UpStream", "toxicity": 0.5}
    ).json()
    assert (body["name"], body["stream"], body["toxicity"]) == ("latency_UpStream", "UpStream", 0.5)


def test_toxicity_is_rendered_as_a_float32(http: httpx.Client) -> None:
    create(http, "p")
    for index, toxicity in enumerate(("0.1", "0.25", "0", "1")):
        body = b'{"name":"t%d","type":"noop","toxicity":%s}' % (index, toxicity.encode())
        assert f'"toxicity":{toxicity}}}' in http.post("/proxies/p/toxics", content=body).text


def test_toxic_errors(http: httpx.Client) -> None:
    create(http, "p")
    post = lambda body: http.post("/proxies/p/toxics", json=body)  # noqa: E731
    assert post({"type": "latency"}).status_code == 200
    assert_error(post({"type": "latency"}), 409, "toxic already exists")
    assert_error(post({"type": "nope"}), 400, "invalid toxic type")
    assert_error(
        post({"type": "latency", "name": "x", "stream": "sideways"}),
        400,
        "stream was invalid, can be either upstream or downstream",
    )
    assert_error(http.get("/proxies/p/toxics/nope"), 404, "toxic not found")
    assert_error(http.delete("/proxies/p/toxics/nope"), 404, "toxic not found")
    assert_error(http.patch("/proxies/p/toxics/nope", json={}), 404, "toxic not found")
    assert_error(http.post("/proxies/nope/toxics", json={"type": "latency"}), 404, "proxy not found")
    assert_error(http.post("/proxies/p/toxics", content=b""), 400, "bad request body: EOF")


@pytest.mark.parametrize("value", ["100.0", "1e2", "100.5"])
def test_integer_attributes_reject_decimal_notation(http: httpx.Client, value: str) -> None:
    create(http, "p")
    body = b'{"type":"latency","attributes":{"latency":' + value.encode() + b"}}"
    response = http.post("/proxies/p/toxics", content=body)
    assert response.status_code == 400
    assert response.json()["error"].startswith("bad request body: ")
    assert http.get("/proxies/p/toxics").json() == []


def test_listing_order_is_upstream_then_downstream_each_in_insertion_order(http: httpx.Client) -> None:
    create(http, "p")
    for name, stream in (("d1", "downstream"), ("u1", "upstream"), ("d2", "downstream"), ("u2", "upstream")):
        assert (
            http.post("/proxies/p/toxics", json={"name": name, "type": "noop", "stream": stream}).status_code
            == 200
        )
    assert [t["name"] for t in http.get("/proxies/p/toxics").json()] == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in http.get("/proxies/p").json()["toxics"]] == ["u1", "u2", "d1", "d2"]


def test_toxic_update_merges_attributes(http: httpx.Client) -> None:
    create(http, "p")
    http.post(
        "/proxies/p/toxics",
        json={"name": "l", "type": "latency", "attributes": {"latency": 100, "jitter": 10}},
    )
    patched = http.patch("/proxies/p/toxics/l", json={"attributes": {"jitter": 5}})
    assert patched.status_code == 200
    assert patched.json()["attributes"] == {"latency": 100, "jitter": 5}
    posted = http.post("/proxies/p/toxics/l", json={"toxicity": 0.25})  # deprecated POST still updates
    assert posted.status_code == 200
    assert posted.json() == {
        "attributes": {"latency": 100, "jitter": 5},
        "name": "l",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 0.25,
    }


def test_toxic_delete_is_204(http: httpx.Client) -> None:
    create(http, "p")
    http.post("/proxies/p/toxics", json={"type": "noop"})
    response = http.delete("/proxies/p/toxics/noop_downstream")
    assert response.status_code == 204 and response.content == b""
    assert http.get("/proxies/p/toxics").text == "[]"


@pytest.mark.parametrize(
    ("toxic_type", "attributes"),
    [("bandwidth", {"rate": -1}), ("slicer", {"average_size": 0})],
    ids=["negative-bandwidth", "slicer-size-0"],
)
def test_inputs_that_crash_the_real_server_are_refused(
    server: Server, http: httpx.Client, toxic_type: str, attributes: dict[str, int]
) -> None:
    server.only(EMBEDDED, "the real server accepts this and crashes on the first chunk (spec 11.12)")
    create(http, "p")
    response = http.post("/proxies/p/toxics", json={"type": toxic_type, "attributes": attributes})
    assert response.status_code == 400
    assert response.headers["content-type"] == ERROR_TYPE
    message = response.json()["error"]
    assert next(iter(attributes)) in message  # the message names the offending attribute
    assert http.get("/proxies/p/toxics").json() == []


@pytest.mark.parametrize(
    ("toxic_type", "attributes"),
    [
        ("latency", {"latency": -50}),
        ("latency", {"latency": 50, "jitter": -5}),
        ("slow_close", {"delay": -1}),
        ("timeout", {"timeout": -1}),
        ("reset_peer", {"timeout": -1}),
        ("limit_data", {"bytes": -1}),
        ("slicer", {"average_size": 5, "size_variation": -2}),
        ("slicer", {"average_size": 5, "delay": -5}),
    ],
)
def test_negative_values_the_real_server_handles_are_accepted(
    http: httpx.Client, toxic_type: str, attributes: dict[str, int]
) -> None:
    """Only inputs that crash the real server may be refused; these it treats as zero or "at once"."""
    create(http, "p")
    response = http.post("/proxies/p/toxics", json={"type": toxic_type, "attributes": attributes})
    assert response.status_code == 200, response.text
    assert attributes.items() <= response.json()["attributes"].items()


# --- populate and reset -------------------------------------------------------------------------


def populate(http: httpx.Client, entries: object) -> httpx.Response:
    return http.post("/populate", json=entries)


def test_populate_creates_in_order_and_empty_gives_null(http: httpx.Client) -> None:
    response = populate(
        http, [{"name": n, "upstream": UPSTREAM, "listen": "127.0.0.1:0"} for n in ("z", "a")]
    )
    assert response.status_code == 201
    assert [p["name"] for p in response.json()["proxies"]] == ["z", "a"]
    assert all(list(p) == PROXY_KEYS for p in response.json()["proxies"])
    for empty_body in (b"[]", b"null"):
        empty = http.post("/populate", content=empty_body)
        assert (empty.status_code, empty.text) == (201, '{"proxies":null}'), empty_body


def test_populate_checks_everything_before_creating(http: httpx.Client) -> None:
    response = populate(
        http, [{"name": "a", "upstream": UPSTREAM, "listen": "127.0.0.1:0"}, {"upstream": UPSTREAM}]
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.text == '{"error":"missing required field: name at proxy 2","status":400,"proxies":null}'
    assert http.get("/proxies").json() == {}
    not_array = populate(http, {"name": "a"})
    assert not_array.status_code == 400 and not_array.json()["error"].startswith("bad request body: ")


def test_populate_keeps_identical_replaces_changed_and_leaves_others(http: httpx.Client) -> None:
    same = create(http, "same")
    changed = create(http, "changed")
    create(http, "other")
    for name in ("same", "changed"):
        http.post(f"/proxies/{name}/toxics", json={"type": "noop"})
    http.patch("/proxies/same", json={"enabled": False})
    entries = [
        {"name": "same", "upstream": UPSTREAM, "listen": same["listen"], "enabled": True},
        {"name": "changed", "upstream": "127.0.0.1:10", "listen": changed["listen"]},
    ]
    assert populate(http, entries).status_code == 201
    proxies = http.get("/proxies").json()
    assert sorted(proxies) == ["changed", "other", "same"]
    # Identical listen and upstream: kept exactly, toxics and disabled state included.
    assert proxies["same"]["enabled"] is False and len(proxies["same"]["toxics"]) == 1
    # Different upstream: a fresh proxy without toxics.
    assert proxies["changed"]["upstream"] == "127.0.0.1:10" and proxies["changed"]["toxics"] == []


def test_populate_stops_at_a_bind_failure_keeping_earlier_entries(http: httpx.Client) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        entries = [
            {"name": n, "upstream": UPSTREAM, "listen": listen}
            for n, listen in (
                ("first", "127.0.0.1:0"),
                ("bad", f"127.0.0.1:{port}"),
                ("never", "127.0.0.1:0"),
            )
        ]
        response = populate(http, entries)
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert [p["name"] for p in body["proxies"]] == ["first"]
    assert sorted(http.get("/proxies").json()) == ["first"]


def test_reset_enables_and_strips_toxics_but_keeps_proxies(http: httpx.Client) -> None:
    create(http, "a")
    create(http, "b")
    http.post("/proxies/a/toxics", json={"type": "latency", "attributes": {"latency": 10}})
    http.patch("/proxies/b", json={"enabled": False})
    response = http.post("/reset", content=b'{"garbage":')
    assert response.status_code == 204 and response.content == b""
    proxies = http.get("/proxies").json()
    assert sorted(proxies) == ["a", "b"]
    assert all(p["enabled"] is True and p["toxics"] == [] for p in proxies.values())
