"""Pure ASGI guard in front of the DLQ routes: API key, request size and body media type.

It runs inside the error middleware (see :func:`resilience.dlq.app.create_app`), so the errors it
raises are answered in the library's standard error envelope.

- Authentication: every path except the probes ``/health`` and ``/ready`` needs the key, as
  ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` (compared in constant time); otherwise
  401 ``UNAUTHENTICATED``.
- Size: a body larger than ``max_body_bytes`` is refused with 413 ``PAYLOAD_TOO_LARGE``, from its
  ``Content-Length`` before reading, or while reading a chunked body (which is buffered, at most
  ``max_body_bytes``, and replayed to the app).
- Media type: a body sent with a ``Content-Type`` that is not JSON (curl's ``-d`` sends
  ``application/x-www-form-urlencoded``) is refused with 415 ``UNSUPPORTED_MEDIA_TYPE`` naming the
  header to send; FastAPI would otherwise validate the raw bytes and answer "Must be an object".
  A body without ``Content-Type`` is taken as JSON (FastAPI >= 0.120 would refuse it too).
"""

from __future__ import annotations

import hmac
from typing import ClassVar

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resilience import errors
from resilience._payload import is_json_media_type

__all__ = [
    "OPEN_PATHS",
    "JSONBodyGuard",
    "PayloadTooLargeError",
    "RequestGuard",
    "UnsupportedMediaTypeError",
    "bounded_body",
    "require_json",
]

OPEN_PATHS = frozenset({"/health", "/ready"})  # probes: orchestrators call them without the key


class PayloadTooLargeError(errors.ResilienceError):
    code: ClassVar[str] = "PAYLOAD_TOO_LARGE"
    category: ClassVar[errors.Category] = errors.Category.VALIDATION
    severity: ClassVar[errors.Severity] = errors.Severity.INFO
    http_status: ClassVar[int] = 413
    expose_message: ClassVar[bool] = True


class UnsupportedMediaTypeError(errors.ResilienceError):
    code: ClassVar[str] = "UNSUPPORTED_MEDIA_TYPE"
    category: ClassVar[errors.Category] = errors.Category.VALIDATION
    severity: ClassVar[errors.Severity] = errors.Severity.INFO
    http_status: ClassVar[int] = 415
    expose_message: ClassVar[bool] = True


def require_json(scope: Scope) -> Scope:
    """The request's scope if its body is JSON; raise :class:`UnsupportedMediaTypeError` if not.

    JSON as :func:`~resilience._payload.is_json_media_type` (and FastAPI) decides it. A body without
    any ``Content-Type`` is declared JSON: the returned scope carries ``Content-Type: application/json``.
    """
    headers = dict(scope["headers"])
    length = headers.get(b"content-length", b"").strip()
    if length in (b"", b"0") and b"transfer-encoding" not in headers:
        return scope
    raw = headers.get(b"content-type")
    if raw is None:
        return {**scope, "headers": [*scope["headers"], (b"content-type", b"application/json")]}
    content_type = raw.decode("latin-1")
    if is_json_media_type(content_type):
        return scope
    shown = content_type[:100]
    raise UnsupportedMediaTypeError(
        f"the request body must be JSON: send 'Content-Type: application/json' (got {shown!r})"
    )


class JSONBodyGuard:
    """Pure ASGI: :func:`require_json` and, with ``max_body_bytes``, the size limit of
    :func:`bounded_body`, for an app that wants those without the API key (the stub gateway). Add it
    inside the error middleware so the errors get the standard envelope."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int | None = None) -> None:
        self.app = app
        self._max = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope = require_json(scope)
        if self._max is not None:
            receive = await bounded_body(scope, receive, self._max)
        await self.app(scope, receive, send)


async def bounded_body(scope: Scope, receive: Receive, max_bytes: int) -> Receive:
    """Read the whole request body, at most ``max_bytes``, and return a ``receive`` that replays it.

    A larger body raises :class:`PayloadTooLargeError`: at once from its ``Content-Length``, or as
    soon as a chunked body passes the limit (nothing beyond ``max_bytes`` is buffered).
    """
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > max_bytes:
            raise PayloadTooLargeError(f"request body exceeds the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return _replay([message], receive)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLargeError(f"request body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return _replay([{"type": "http.request", "body": b"".join(chunks), "more_body": False}], receive)


class _Unauthenticated(errors.AuthenticationError):
    expose_message = True


class RequestGuard:
    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self._key = api_key.encode() if api_key is not None else None
        self._max = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._key is not None and scope["path"] not in OPEN_PATHS:
            self._authenticate(scope)
        scope = require_json(scope)
        await self.app(scope, await bounded_body(scope, receive, self._max), send)

    def _authenticate(self, scope: Scope) -> None:
        presented: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                presented = value.strip()
            elif name == b"authorization" and value[:7].lower() == b"bearer ":
                presented = value[7:].strip()
            if presented is not None and hmac.compare_digest(presented, self._key or b""):
                return
        raise _Unauthenticated(
            "missing or invalid API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'"
        )


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
