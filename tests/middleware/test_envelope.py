"""Every error path answered in the seed's envelope format (the default)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from .conftest import Call

ENVELOPE_KEYS = {"error", "request_id"}


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == ENVELOPE_KEYS
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert set(body["error"]) <= {"code", "message", "detail", "context"}
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def test_success_passes_through_with_a_request_id(demo: Call) -> None:
    response = demo("GET", "/ok")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(response.headers["x-request-id"]) == 32


def test_validation_error_is_400_with_a_pointer_per_field(demo: Call) -> None:
    response = demo("POST", "/orders", json={"item": "", "quantity": 0, "colour": "green"})
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    errors = {e["pointer"]: e for e in body["error"]["context"]["errors"]}
    assert set(errors) == {"/item", "/quantity", "/colour"}
    assert errors["/quantity"] == {
        "in": "body",
        "pointer": "/quantity",
        "type": "greater_than",
        "message": "Must be greater than 0.",
    }
    assert errors["/item"]["message"] == "Must have at least 1 characters."
    assert errors["/colour"]["type"] == "literal_error"


def test_missing_body_and_bad_query_are_located(demo: Call) -> None:
    missing = assert_envelope(demo("POST", "/orders"), 400, "VALIDATION_ERROR")
    assert missing["error"]["context"]["errors"] == [
        {"in": "body", "pointer": "", "type": "missing", "message": "Field required."}
    ]
    query = assert_envelope(demo("GET", "/search?limit=500"), 400, "VALIDATION_ERROR")
    assert query["error"]["context"]["errors"][0]["in"] == "query"
    assert query["error"]["context"]["errors"][0]["pointer"] == "/limit"
    path = assert_envelope(demo("GET", "/items/abc"), 400, "VALIDATION_ERROR")
    assert path["error"]["context"]["errors"][0]["in"] == "path"


def test_malformed_json_points_at_the_whole_body(demo: Call) -> None:
    response = demo("POST", "/orders", content=b"{not json", headers={"content-type": "application/json"})
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert body["error"]["context"]["errors"][0]["type"] == "json_invalid"
    assert body["error"]["context"]["errors"][0]["pointer"] == ""


@pytest.mark.parametrize(
    ("content_type", "language", "expected"),
    [
        ("text/plain", "en", "The body must be JSON: send it with Content-Type: application/json."),
        ("application/x-www-form-urlencoded", "de", "Der Body muss JSON sein"),
    ],
)
def test_a_json_body_sent_with_another_content_type_names_the_header(
    demo: Call, content_type: str, language: str, expected: str
) -> None:
    response = demo(
        "POST",
        "/orders",
        content=b'{"item": "tea", "quantity": 1}',
        headers={"content-type": content_type, "accept-language": language},
    )
    body = assert_envelope(response, 400, "VALIDATION_ERROR")
    [error] = body["error"]["context"]["errors"]
    assert (error["in"], error["pointer"], error["type"]) == ("body", "", "model_attributes_type")
    assert error["message"].startswith(expected)


def test_a_non_object_json_body_keeps_the_plain_message(demo: Call) -> None:
    response = demo("POST", "/orders", json=[1, 2], headers={"content-type": "application/vnd.api+json"})
    [error] = assert_envelope(response, 400, "VALIDATION_ERROR")["error"]["context"]["errors"]
    assert error["message"] == "Must be an object."


def test_http_exception_keeps_the_applications_detail(demo: Call) -> None:
    body = assert_envelope(demo("GET", "/items/404"), 404, "HTTP_404")
    assert body["error"]["message"] == "Not found."
    assert body["error"]["detail"] == "Item 404 does not exist"


def test_unknown_route_and_wrong_method(demo: Call) -> None:
    body = assert_envelope(demo("GET", "/nowhere"), 404, "HTTP_404")
    assert "detail" not in body["error"]  # the default phrase is not repeated as a detail
    response = demo("DELETE", "/ok")
    assert_envelope(response, 405, "HTTP_405")
    assert response.headers["allow"] == "GET"


def test_unexpected_error_is_a_generic_500(demo: Call) -> None:
    body = assert_envelope(demo("GET", "/boom"), 500, "INTERNAL_SERVER_ERROR")
    assert body["error"] == {"code": "INTERNAL_SERVER_ERROR", "message": "An unexpected error occurred."}


@pytest.mark.parametrize(
    ("path", "status", "code", "retry_after"),
    [
        ("/breaker", 503, "CIRCUIT_OPEN", "3"),  # ceil(2.3)
        ("/breaker?retry_after=0", 503, "CIRCUIT_OPEN", "1"),  # at least 1
        ("/breaker?retry_after=30", 503, "CIRCUIT_OPEN", "30"),
        ("/retry", 502, "UPSTREAM_FAILED", None),
        ("/upstream-timeout", 504, "UPSTREAM_TIMEOUT", None),
        ("/budget", 503, "RETRY_BUDGET_EXHAUSTED", None),
        ("/rate-limited", 429, "RATE_LIMITED", "1"),
        ("/conflict", 409, "CONFLICT", None),
    ],
)
def test_taxonomy_errors_map_to_status_code_and_retry_after(
    demo: Call, path: str, status: int, code: str, retry_after: str | None
) -> None:
    response = demo("GET", path)
    body = assert_envelope(response, status, code)
    assert response.headers.get("retry-after") == retry_after
    context = body["error"]["context"]
    assert isinstance(context["retryable"], bool) and isinstance(context["category"], str)
    if retry_after is not None:
        assert context["retry_after"] == int(retry_after)


def test_application_error_type_with_exposed_message(demo: Call) -> None:
    body = assert_envelope(demo("GET", "/locked"), 423, "ORDER_LOCKED")
    assert body["error"]["detail"] == "order 7 is locked while it ships"
    assert body["error"]["message"] == "Locked"  # no catalog entry: the HTTP reason phrase


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback TCP server that accepts and never answers (a hung upstream)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


def test_real_httpx_timeout_becomes_504(demo: Call, silent_server: str) -> None:
    response = demo("GET", "/upstream", params={"url": silent_server})
    body = assert_envelope(response, 504, "UPSTREAM_TIMEOUT")
    assert body["error"]["context"] == {"category": "timeout", "retryable": True}


def test_real_httpx_connect_error_becomes_502(demo: Call) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = assert_envelope(
        demo("GET", "/upstream", params={"url": f"http://127.0.0.1:{port}/"}), 502, "UPSTREAM_UNAVAILABLE"
    )
    assert body["error"]["context"]["category"] == "upstream_unavailable"
