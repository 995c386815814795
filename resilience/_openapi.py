"""The error answers in an app's OpenAPI document, so generated clients expect what is sent.

FastAPI documents a ``422`` with its own ``HTTPValidationError`` on every operation that takes
input; with the error handlers installed, validation errors are answered with the configured
status (400 by default) in the envelope or problem format, and every other error in one of the
two formats as well. :func:`document_errors` rewrites a generated document accordingly.
"""

from __future__ import annotations

from typing import Any

from resilience._payload import ENVELOPE_MEDIA_TYPE, PROBLEM_MEDIA_TYPE

_REF = "#/components/schemas/"
_FASTAPI_VALIDATION = _REF + "HTTPValidationError"
_FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError")
_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

_STRING = {"type": "string"}


def schemas(prefix: str = "") -> dict[str, dict[str, Any]]:
    """The JSON schemas of the two formats, named ``prefix + ErrorEnvelope`` and so on."""
    items = {"type": "array", "items": {"$ref": f"{_REF}{prefix}ValidationItem"}}
    return {
        f"{prefix}ValidationItem": {
            "title": "ValidationItem",
            "type": "object",
            "required": ["in", "pointer", "type", "message"],
            "properties": {
                "in": {"type": "string", "enum": ["body", "query", "path", "header", "cookie"]},
                "pointer": {"type": "string", "description": "RFC 6901 JSON pointer to the offending field"},
                "type": {"type": "string", "description": "pydantic's error type, e.g. missing"},
                "message": {"type": "string"},
            },
        },
        f"{prefix}ErrorEnvelope": {
            "title": "ErrorEnvelope",
            "type": "object",
            "required": ["error", "request_id"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "description": "stable, never translated"},
                        "message": {"type": "string", "description": "in the negotiated language"},
                        "detail": _STRING,
                        "context": {
                            "type": "object",
                            "properties": {"errors": items},
                            "additionalProperties": True,
                        },
                    },
                },
                "request_id": _STRING,
            },
        },
        f"{prefix}ProblemDetails": {
            "title": "ProblemDetails",
            "description": "RFC 9457 problem details",
            "type": "object",
            "required": ["type", "title", "status", "code", "request_id"],
            "properties": {
                "type": _STRING,
                "title": _STRING,
                "status": {"type": "integer"},
                "detail": _STRING,
                "instance": _STRING,
                "code": _STRING,
                "request_id": _STRING,
                "errors": items,
            },
            "additionalProperties": True,
        },
    }


def _error_response(description: str, prefix: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            ENVELOPE_MEDIA_TYPE: {"schema": {"$ref": f"{_REF}{prefix}ErrorEnvelope"}},
            PROBLEM_MEDIA_TYPE: {"schema": {"$ref": f"{_REF}{prefix}ProblemDetails"}},
        },
    }


def document_errors(document: dict[str, Any], validation_status: int) -> dict[str, Any]:
    """Rewrite ``document`` in place (idempotent): our validation status and formats, a ``default``.

    What the application declared itself stays: a response it documents for the validation
    status, and its own schemas (ours are then named ``ResilienceErrorEnvelope`` and so on).
    """
    components = document.setdefault("components", {}).setdefault("schemas", {})
    ours = schemas()
    prefix = "" if all(components.get(name, body) == body for name, body in ours.items()) else "Resilience"
    for item in document.get("paths", {}).values():
        for method, operation in item.items():
            if method not in _METHODS or not isinstance(operation, dict):
                continue
            responses = operation.setdefault("responses", {})
            fastapi_422 = responses.get("422", {}).get("content", {}).get(ENVELOPE_MEDIA_TYPE, {})
            if fastapi_422.get("schema", {}).get("$ref") == _FASTAPI_VALIDATION:
                del responses["422"]
                responses.setdefault(str(validation_status), _error_response("Validation Error", prefix))
            responses.setdefault("default", _error_response("Error", prefix))
    components.update(schemas(prefix) if prefix else ours)
    if _FASTAPI_VALIDATION not in repr(document.get("paths", {})):
        for name in _FASTAPI_SCHEMAS:
            components.pop(name, None)
    return document
