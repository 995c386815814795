"""Property test: whatever schemathesis sends the demo app, every answer is in one of two formats."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from ._app import make_app

# Routes that reach the network or stream are covered elsewhere; everything else is fuzzed.
schema = schemathesis.openapi.from_asgi("/openapi.json", make_app(reraise_unhandled=False)).exclude(
    path=["/upstream", "/stream"]
)


CONFORMANCE = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]


def assert_one_of_two_formats(status: int, content_type: str, body: Any, request_id: str) -> None:
    if status < 400:
        return
    if content_type == "application/problem+json":
        assert {"type", "title", "status", "code", "request_id", "instance"} <= set(body)
        assert body["status"] == status and body["request_id"] == request_id
        return
    assert content_type == "application/json", content_type
    assert set(body) == {"error", "request_id"} and body["request_id"] == request_id
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "detail", "context"}
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_an_envelope_or_a_problem(case: schemathesis.Case) -> None:
    for accept in ("application/json", "application/problem+json"):
        response = case.call(headers={"Accept": accept})
        request_id = response.headers["x-request-id"][0]
        assert request_id
        content_type = response.headers.get("content-type", [""])[0]
        body = response.json() if response.status_code >= 400 else None
        assert_one_of_two_formats(response.status_code, content_type, body, request_id)
        if response.status_code >= 400:
            assert content_type == ("application/problem+json" if "problem" in accept else "application/json")
        # ... and the app's OpenAPI document says so (validation status, both formats, ``default``).
        case.validate_response(response, checks=CONFORMANCE)
