"""FastAPI/Starlette error handling: one error format per service, request ids, nothing leaked.

Two ways in:

- :func:`add_error_handlers` (the seed's entry point) does the whole setup on a FastAPI or
  Starlette app: it appends :class:`ErrorHandlingMiddleware` as the innermost user middleware (so
  CORS and other middleware still decorate its 500s), where it also does the job of Starlette's
  ``ExceptionMiddleware``; puts a second layer outermost when the app has other middleware (their
  errors answered, the id visible to them); registers :func:`http_exception_handler` and
  :func:`validation_exception_handler` for ``HTTPException`` and ``RequestValidationError``; and
  documents the answers in the app's OpenAPI schema.
- :class:`ErrorHandlingMiddleware` is a pure ASGI middleware for any stack. Alone it covers
  request ids, the error taxonomy and unexpected exceptions; framework errors that the app's own
  exception handlers answer keep their format unless those two handlers are registered too. Put
  it inside the app's stack (``Starlette(middleware=[...])``, ``app.add_middleware``): wrapped
  around a finished Starlette app it comes too late, as the app's outermost 500 handler answers
  first. With ``add_middleware`` (which inserts outermost), add it before CORS and the like, or
  they end up inside it and cannot decorate its answers.

What an error becomes:

==================================  ===================  ==========================================
exception                           status               code
==================================  ===================  ==========================================
``RequestValidationError``          400 (configurable)   ``VALIDATION_ERROR``, with ``errors``
``HTTPException(status)``           its status           ``HTTP_<status>``
taxonomy / :func:`register_error`   from its spec        from its spec (``CIRCUIT_OPEN``, ...)
anything else                       500                  ``INTERNAL_SERVER_ERROR``, logged in full
==================================  ===================  ==========================================

The body is the seed's envelope (``application/json``), or RFC 9457 problem details
(``application/problem+json``) when ``problem_details=True`` or the client's ``Accept`` ranks
``application/problem+json`` above ``application/json``. Messages come from catalogs keyed by
code in the language negotiated from ``Accept-Language``, answered in ``Content-Language``.
Exception text, tracebacks and rejected input never leave the process unless ``debug=True``,
which is refused when ``ENVIRONMENT``, ``APP_ENV`` or ``ENV`` says ``production``.
"""

from __future__ import annotations

import functools
import http
import inspect
import json
import logging
import math
import os
import traceback
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from fastapi import FastAPI
from fastapi import exception_handlers as fastapi_handlers
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from resilience._i18n import CATALOGS, DEFAULT_LANGUAGE, negotiate_language, register_messages
from resilience._openapi import document_errors
from resilience._payload import (
    ENVELOPE_MEDIA_TYPE,
    PROBLEM_MEDIA_TYPE,
    ErrorDetail,
    ErrorResponse,
    is_json_media_type,
    prefers_problem,
    validation_items,
)
from resilience._request_id import (
    RequestIdFilter,
    accept_request_id,
    current_request_id,
    get_request_id,
    new_request_id,
)
from resilience.errors import ResilienceError, Severity, error_spec

__all__ = [
    "PRODUCTION_ENV_VARS",
    "ErrorDetail",
    "ErrorHandlingMiddleware",
    "ErrorResponse",
    "RequestIdFilter",
    "add_error_handlers",
    "get_request_id",
    "http_exception_handler",
    "register_messages",
    "validation_exception_handler",
    "websocket_validation_exception_handler",
]

logger = logging.getLogger("resilience.middleware")
# Our records carry ``request_id`` even where no handler has the filter; a record factory that
# already sets it wins (``extra=`` would make logging raise on the clash, inside the error path).
logger.addFilter(RequestIdFilter())

PRODUCTION_ENV_VARS = ("ENVIRONMENT", "APP_ENV", "ENV")
"""Environment variables that, set to ``production`` or ``prod``, make ``debug=True`` an error."""

_PRODUCTION_VALUES = frozenset({"production", "prod"})
_SCOPE_KEY = "resilience.errors"  # the formatter, for handlers inside the stack (the id is in the context)
_HANDLERS_KEY = "starlette.exception_handlers"  # where Starlette's routes find the app's handlers
_ID_KEY = "resilience.request_id"  # set by the outermost of our layers on a request
_REPORTED_KEY = "resilience.reported"  # the exception one of our layers answered or logged
_NOTE_PREFIX = "request_id: "
_FRAMEWORK_HANDLERS = (
    fastapi_handlers.http_exception_handler,
    fastapi_handlers.request_validation_exception_handler,
    fastapi_handlers.websocket_request_validation_exception_handler,
)
# Raised through ``send`` by Starlette's and FastAPI's body-size limits after they answered 413.
_CONTROL_MODULES = frozenset({"starlette.middleware.body_limit", "fastapi._body_limit"})
_LOG_LEVELS = {
    Severity.INFO: logging.INFO,
    Severity.WARNING: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.CRITICAL: logging.CRITICAL,
}
_NO_BODY_STATUSES = frozenset({204, 205, 304})
_Handler = Callable[[Request, Exception], Any]  # an app's exception handler, sync or async
# ``default=str`` so an application's non-JSON value in an HTTPException detail cannot turn
# an error answer into a second error.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


class _Outcome:
    """What an exception means, before language and format are applied."""

    __slots__ = ("code", "detail", "headers", "members", "status", "unexpected")

    def __init__(self, status: int, code: str, *, unexpected: bool = False) -> None:
        self.status = status
        self.code = code
        self.unexpected = unexpected
        self.detail: str | None = None
        self.members: dict[str, Any] = {}
        self.headers: dict[str, str] = {}


class _Formatter:
    """Turns an exception into a response; shared by the middleware and the two handlers."""

    def __init__(
        self,
        *,
        problem_details: bool = False,
        debug: bool = False,
        validation_status: int = 400,
        default_language: str = DEFAULT_LANGUAGE,
        problem_type_base: str | None = None,
    ) -> None:
        if debug:
            _refuse_debug_in_production()
        if type(validation_status) is not int or not 400 <= validation_status <= 499:
            raise ValueError(
                f"validation_status must be a 4xx status such as 400 or 422, got {validation_status!r}"
            )
        language = default_language.strip().lower()
        if language not in CATALOGS.languages():
            raise ValueError(
                f"default_language {default_language!r} has no message catalog; "
                f"available: {sorted(CATALOGS.languages())}"
            )
        self.problem_details = problem_details
        self.debug = debug
        self.validation_status = validation_status
        self.default_language = language
        self.problem_type_base = problem_type_base

    def response(
        self, exc: Exception, scope: Scope, request_id: str, *, log: bool = True
    ) -> tuple[Response, bool]:
        """The full answer for ``exc`` and whether it was unexpected; logs it with the request id.

        Never raises: if building the answer fails (a broken ``__str__``, a logging handler that
        raises), both errors are logged and the client gets the generic 500 envelope.
        """
        try:
            return self._response(exc, scope, request_id, log)
        except Exception as failure:
            logger.critical(
                "could not build the error answer for %s [request_id=%s]",
                type(exc).__qualname__,
                request_id,
                exc_info=failure,
            )
            document = ErrorResponse(
                ErrorDetail("INTERNAL_SERVER_ERROR", _reason_phrase(500)), request_id, 500
            ).to_dict()
            body = _ENCODER.encode(document).encode("utf-8")
            return Response(body, 500, {"Content-Language": DEFAULT_LANGUAGE}, ENVELOPE_MEDIA_TYPE), True

    def _response(self, exc: Exception, scope: Scope, request_id: str, log: bool) -> tuple[Response, bool]:
        accept = accept_language = content_type = None
        for name, value in scope.get("headers", ()):
            if name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        outcome = self._classify(exc, scope, request_id, log)
        language = negotiate_language(accept_language, self.default_language)
        found = CATALOGS.lookup(language, outcome.code) or CATALOGS.lookup(language, f"HTTP_{outcome.status}")
        if found is not None:
            language, title = found
        else:
            language, title = DEFAULT_LANGUAGE, _reason_phrase(outcome.status)
        if outcome.code == "VALIDATION_ERROR":
            body_is_json = content_type is None or is_json_media_type(content_type)
            outcome.members["errors"] = validation_items(
                _errors_of(exc), language, body_is_json=body_is_json, body=getattr(exc, "body", None)
            )
        if self.debug and outcome.status >= 500:
            outcome.members["debug"] = {
                "exception": f"{type(exc).__module__}.{type(exc).__qualname__}",
                "message": str(exc),
                "traceback": traceback.format_exception(exc),
            }
        if outcome.status in _NO_BODY_STATUSES:
            return Response(status_code=outcome.status, headers=outcome.headers), outcome.unexpected
        headers = {name: value for name, value in outcome.headers.items() if name.lower() != "vary"}
        # The answer depends on these two; an HTTPException's own Vary (Cookie, ...) still holds.
        vary = [value for name, value in outcome.headers.items() if name.lower() == "vary"]
        headers["Vary"] = ", ".join([*vary, "Accept, Accept-Language"])
        headers["Content-Language"] = CATALOGS.tag(language)
        if self.problem_details or (accept is not None and prefers_problem(accept)):
            document = self._problem(outcome, title, scope, request_id)
            media_type = PROBLEM_MEDIA_TYPE
        else:
            detail = ErrorDetail(outcome.code, title, outcome.detail, outcome.members)
            document = ErrorResponse(detail, request_id, outcome.status).to_dict()
            media_type = ENVELOPE_MEDIA_TYPE
        body = _ENCODER.encode(document)
        return Response(body.encode("utf-8"), outcome.status, headers, media_type), outcome.unexpected

    def _problem(self, outcome: _Outcome, title: str, scope: Scope, request_id: str) -> dict[str, Any]:
        if self.problem_type_base is None:
            problem_type = "about:blank"
        else:
            problem_type = self.problem_type_base + outcome.code.lower().replace("_", "-")
        document: dict[str, Any] = {"type": problem_type, "title": title, "status": outcome.status}
        if outcome.detail:
            document["detail"] = outcome.detail
        document["instance"] = _public_path(scope)
        document["code"] = outcome.code
        document["request_id"] = request_id
        document.update(outcome.members)
        return document

    def _classify(self, exc: Exception, scope: Scope, request_id: str, log: bool) -> _Outcome:
        where = f"{scope.get('method', '?')} {scope.get('path', '?')}"
        if isinstance(exc, RequestValidationError):
            if log:
                logger.debug("%s rejected by validation [request_id=%s]", where, request_id)
            return _Outcome(self.validation_status, "VALIDATION_ERROR")
        if isinstance(exc, HTTPException):
            if log:  # the application chose this answer: no traceback
                level = logging.WARNING if exc.status_code >= 500 else logging.DEBUG
                logger.log(level, "HTTP %s on %s [request_id=%s]", exc.status_code, where, request_id)
            outcome = _Outcome(exc.status_code, f"HTTP_{exc.status_code}")
            outcome.headers.update(exc.headers or {})
            # The application wrote this detail for clients; 5xx details are still withheld.
            if exc.status_code < 500 and exc.detail != _reason_phrase(exc.status_code):
                if isinstance(exc.detail, str):
                    outcome.detail = exc.detail
                elif exc.detail is not None:
                    outcome.members["data"] = exc.detail
            return outcome
        spec = error_spec(exc)
        if spec is None:
            if log:
                logger.error(
                    "unhandled %s on %s [request_id=%s]",
                    type(exc).__qualname__,
                    where,
                    request_id,
                    exc_info=exc,
                )
            return _Outcome(500, "INTERNAL_SERVER_ERROR", unexpected=True)
        if log:
            logger.log(
                _LOG_LEVELS[spec.severity],
                "%s (%s) on %s [request_id=%s]: %s",
                spec.code,
                type(exc).__qualname__,
                where,
                request_id,
                exc,
                exc_info=exc if spec.severity in (Severity.ERROR, Severity.CRITICAL) else None,
            )
        outcome = _Outcome(spec.http_status, spec.code)
        if spec.expose_message:
            outcome.detail = exc.message if isinstance(exc, ResilienceError) else str(exc)
        outcome.members["category"] = spec.category.value
        outcome.members["retryable"] = spec.retryable
        retry_after = getattr(exc, "retry_after", None)
        if (
            isinstance(retry_after, int | float)
            and not isinstance(retry_after, bool)
            and math.isfinite(retry_after)
            and outcome.status in (429, 503)
        ):
            seconds = max(1, math.ceil(retry_after))
            outcome.headers["Retry-After"] = str(seconds)
            outcome.members["retry_after"] = seconds
        return outcome


def _public_path(scope: Scope) -> str:
    """The path as the client sent it: servers put the root path in ``path`` (ASGI 3), while
    ``FastAPI(root_path=...)`` only sets ``root_path``."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    return path if not root or path == root or path.startswith(root + "/") else root + path


@functools.lru_cache(maxsize=128)
def _reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _errors_of(exc: Exception) -> list[Any]:
    validation = (RequestValidationError, WebSocketRequestValidationError)
    return list(exc.errors()) if isinstance(exc, validation) else []


def _refuse_debug_in_production() -> None:
    for name in PRODUCTION_ENV_VARS:
        value = os.environ.get(name, "").strip().lower()
        if value in _PRODUCTION_VALUES:
            raise ValueError(
                f"debug=True is refused: {name}={value!r} says this is production, and debug "
                "answers would send exception text and tracebacks to clients"
            )


def _note_request_id(exc: BaseException, request_id: str) -> None:
    """Name the request in the server's own log of a re-raised error (tracebacks print notes).

    Replaces an earlier such note: an exception instance raised again and again keeps one.
    """
    notes = [note for note in getattr(exc, "__notes__", ()) if not note.startswith(_NOTE_PREFIX)]
    exc.__notes__ = [*notes, _NOTE_PREFIX + request_id]


def _single(exc: Exception) -> Exception:
    """The lone exception inside (nested) one-member exception groups, else ``exc`` itself."""
    while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return exc


class ErrorHandlingMiddleware:
    """Pure ASGI middleware: request ids on every response, errors answered in one format.

    Args:
        app: the ASGI app to wrap.
        problem_details: always answer RFC 9457 ``application/problem+json`` (default: only when
            the client's ``Accept`` prefers it; otherwise the seed's envelope).
        debug: add exception type, text and traceback to 5xx answers. Off by default; raises
            ``ValueError`` if the environment says production (see :data:`PRODUCTION_ENV_VARS`).
        validation_status: status for request validation errors; 400 as in the seed (FastAPI's
            own default is 422).
        default_language: catalog language when ``Accept-Language`` matches none (``"en"``).
        problem_type_base: URI prefix for problem ``type`` (``base + "circuit-open"``); ``None``
            answers ``"about:blank"`` and clients branch on the ``code`` member.
        request_id_header: header read and written (``X-Request-ID``). A response that already
            carries it (any case; set by the application or an ``HTTPException``) keeps the
            application's value and gets no second one; logs and error bodies still use the
            middleware's id.
        trust_request_id: accept a well-formed incoming id (1..128 of ``A-Za-z0-9._:+/=-``);
            ``False`` always mints a new one.
        reraise_unhandled: after answering an unexpected error with a 500, re-raise it so the
            server logs it too (Starlette's convention; ``TestClient`` then raises unless built
            with ``raise_server_exceptions=False``). Taxonomy and HTTP errors are never re-raised.

    When the response has already started, an error cannot be answered: it is logged and
    re-raised, and the server closes the connection.

    Wrapped directly around Starlette's ``ExceptionMiddleware`` (where :func:`add_error_handlers`
    puts it in a FastAPI or Starlette app) it takes over that layer's job: the app's exception
    handlers run by the same rules (status handlers for ``HTTPException`` first, then the
    exception's classes in MRO order; sync handlers in the thread pool), and websocket and
    lifespan scopes still go through ``ExceptionMiddleware``. The request then passes one layer
    fewer than without this middleware, which pays for the id and the error handling.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        problem_details: bool = False,
        debug: bool = False,
        validation_status: int = 400,
        default_language: str = DEFAULT_LANGUAGE,
        problem_type_base: str | None = None,
        request_id_header: str = "X-Request-ID",
        trust_request_id: bool = True,
        reraise_unhandled: bool = True,
    ) -> None:
        if not request_id_header or not all(c.isalnum() or c in "-_" for c in request_id_header):
            raise ValueError(
                f"request_id_header must be a header name such as 'X-Request-ID', got {request_id_header!r}"
            )
        self.app = app
        self._other_scopes = app  # websocket and lifespan
        self._app_handlers: tuple[Mapping[Any, _Handler], Mapping[int, _Handler]] | None = None
        by_class = getattr(app, "_exception_handlers", None)
        by_status = getattr(app, "_status_handlers", None)
        if type(app) is ExceptionMiddleware and isinstance(by_class, dict) and isinstance(by_status, dict):
            self.app = app.app
            self._app_handlers = (by_class, by_status)
        self.formatter = _Formatter(
            problem_details=problem_details,
            debug=debug,
            validation_status=validation_status,
            default_language=default_language,
            problem_type_base=problem_type_base,
        )
        self._header = request_id_header.lower().encode("latin-1")
        self._trust = trust_request_id
        self._reraise = reraise_unhandled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other_scopes(scope, receive, send)
            return
        # Every line here runs on every request: kept to plain local operations on purpose.
        header = self._header
        known: str | None = scope.get(_ID_KEY)
        # The outermost of our layers on this request owns the id (header, context); an inner one
        # (add_error_handlers' second layer, a mounted app's own) reuses it.
        outermost = known is None
        if known is None:
            if self._trust:
                for name, value in scope["headers"]:
                    if name == header:
                        known = accept_request_id(value)
                        break
            if known is None:
                known = new_request_id()
            scope[_ID_KEY] = known
        request_id = known
        scope[_SCOPE_KEY] = self.formatter
        if self._app_handlers is not None:
            scope[_HANDLERS_KEY] = self._app_handlers
        started = False

        # A plain function returning ``send``'s awaitable: no coroutine of its own per message,
        # and once the response started, body messages pass straight through.
        def send_with_id(message: Message) -> Awaitable[None]:
            nonlocal started
            if started or message["type"] != "http.response.start":
                return send(message)
            started = True
            if outermost:
                # A new list: the response object may own (and reuse) the one in the message, and
                # ASGI allows any iterable, which the scan below must not use up.
                headers = [*message.get("headers", ())]
                for name, _ in headers:
                    if name.lower() == header:
                        break  # the application set its own id: keep it, never send two
                else:
                    headers.append((header, request_id.encode("latin-1")))
                message["headers"] = headers
            return send(message)

        token = current_request_id.set(request_id) if outermost else None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as raised:
            # An inner layer of ours (behind middleware that holds the response back, GZip) may
            # have logged it already; a framework's control exception is not an error at all.
            exc = _single(raised)
            quiet = scope.get(_REPORTED_KEY) is exc or type(raised).__module__ in _CONTROL_MODULES
            if started:
                if not quiet:
                    scope[_REPORTED_KEY] = exc
                    logger.error(
                        "error raised after the response started on %s %s [request_id=%s]",
                        scope.get("method"),
                        scope.get("path"),
                        request_id,
                        exc_info=raised,
                    )
                if outermost:
                    _note_request_id(raised, request_id)
                raise
            failure = raised
            handler = self._app_handler(raised)
            if handler is not None:
                try:
                    answer = await _call_handler(handler, Request(scope, receive, send_with_id), raised)
                except Exception as handler_failed:
                    failure, exc = handler_failed, _single(handler_failed)
                else:
                    if answer is not None:
                        await answer(scope, receive, send_with_id)
                    raised.__traceback__ = None  # a reused exception instance would pile up tracebacks
                    return
            response, unexpected = self.formatter.response(exc, scope, request_id, log=not quiet)
            await response(scope, receive, send_with_id)
            if unexpected and self._reraise:
                scope[_REPORTED_KEY] = exc  # answered and logged: outer layers stay quiet
                if outermost:
                    _note_request_id(failure, request_id)
                if failure is raised:
                    raise
                raise failure from raised  # the app's handler failed on ``raised``
        finally:
            if token is not None:
                current_request_id.reset(token)

    def _app_handler(self, exc: Exception) -> _Handler | None:
        """The app's handler for ``exc`` by Starlette's rules, when this took over ``ExceptionMiddleware``."""
        if self._app_handlers is None:
            return None
        by_class, by_status = self._app_handlers
        if isinstance(exc, HTTPException) and exc.status_code in by_status:
            return by_status[exc.status_code]
        return next((by_class[cls] for cls in type(exc).__mro__ if cls in by_class), None)


async def _call_handler(handler: _Handler, request: Request, exc: Exception) -> Response | None:
    unwrapped: Any = handler
    while isinstance(unwrapped, functools.partial):
        unwrapped = unwrapped.func
    if inspect.iscoroutinefunction(unwrapped) or inspect.iscoroutinefunction(type(unwrapped).__call__):
        response: Response | None = await handler(request, exc)
        return response
    return await run_in_threadpool(handler, request, exc)


def _formatter_and_id(request: Request) -> tuple[_Formatter, str, bool]:
    """The middleware's formatter and id, or defaults when the middleware is not installed."""
    formatter = request.scope.get(_SCOPE_KEY)
    request_id = request.scope.get(_ID_KEY)
    if formatter is not None and request_id is not None:
        return formatter, request_id, True
    raw = request.headers.get("x-request-id")
    request_id = (accept_request_id(raw.encode("latin-1")) if raw else None) or new_request_id()
    return formatter or _default_formatter(), request_id, False


@functools.cache
def _default_formatter() -> _Formatter:
    return _Formatter()


async def _handle(request: Request, exc: Exception) -> Response:
    formatter, request_id, installed = _formatter_and_id(request)
    if installed:
        return formatter.response(exc, request.scope, request_id)[0]
    token = current_request_id.set(request_id)  # for the log record, as the middleware would
    try:
        response, _ = formatter.response(exc, request.scope, request_id)
    finally:
        current_request_id.reset(token)
    response.headers["X-Request-ID"] = request_id
    return response


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    """Answer ``HTTPException`` in the configured format (register on the app for ``HTTPException``)."""
    return await _handle(request, exc)


async def validation_exception_handler(request: Request, exc: Exception) -> Response:
    """Answer ``RequestValidationError`` with ``VALIDATION_ERROR`` and JSON-pointer items, no input."""
    return await _handle(request, exc)


async def websocket_validation_exception_handler(websocket: WebSocket, exc: Exception) -> None:
    """Close with 1008 and ``VALIDATION_ERROR`` plus the offending pointers, never the input.

    FastAPI's own handler puts pydantic's errors, rejected values included, in the close reason.
    """
    items = validation_items(_errors_of(exc), DEFAULT_LANGUAGE)
    reason = " ".join(["VALIDATION_ERROR", *sorted({item["pointer"] for item in items})])
    await websocket.close(code=1008, reason=reason.encode("utf-8")[:123].decode("utf-8", "ignore"))


def add_error_handlers(
    app: Starlette,
    *,
    problem_details: bool = False,
    debug: bool = False,
    validation_status: int = 400,
    default_language: str = DEFAULT_LANGUAGE,
    problem_type_base: str | None = None,
    request_id_header: str = "X-Request-ID",
    trust_request_id: bool = True,
    reraise_unhandled: bool = True,
) -> None:
    """Install consistent error handling on a FastAPI (or Starlette) app; call before it starts.

    Appends :class:`ErrorHandlingMiddleware` (options as documented there, validated now) as the
    innermost user middleware, where it takes over Starlette's ``ExceptionMiddleware``, so
    middleware added before or after (CORS, GZip) wraps its answers; and registers the
    ``HTTPException`` and ``RequestValidationError`` handlers. When the app has other middleware
    when it starts, a second layer of it goes outermost: errors raised by that middleware are
    answered too, and it sees the request id (``get_request_id()``, log records) and its own
    answers (a CORS preflight) carry it. Raises ``RuntimeError`` if the app already started or
    the handlers are already installed.
    """
    if getattr(app, "middleware_stack", None) is not None:
        raise RuntimeError("add_error_handlers() must be called before the application starts serving")
    if any(m.cls is ErrorHandlingMiddleware for m in app.user_middleware):  # type: ignore[comparison-overlap]
        raise RuntimeError("error handlers are already installed on this application")
    options: dict[str, Any] = {
        "problem_details": problem_details,
        "debug": debug,
        "validation_status": validation_status,
        "default_language": default_language,
        "problem_type_base": problem_type_base,
        "request_id_header": request_id_header,
        "trust_request_id": trust_request_id,
        "reraise_unhandled": reraise_unhandled,
    }
    ErrorHandlingMiddleware(app, **options)  # validate the options now, not on the first request
    entry = Middleware(ErrorHandlingMiddleware, **options)
    app.user_middleware.append(entry)
    ours: dict[type[Exception], Any] = {
        HTTPException: http_exception_handler,
        RequestValidationError: validation_exception_handler,
        WebSocketRequestValidationError: websocket_validation_exception_handler,
    }
    for exc_class, handler in ours.items():
        # A handler the application registered itself stays; FastAPI's defaults are replaced.
        if app.exception_handlers.get(exc_class) in (None, *_FRAMEWORK_HANDLERS):
            app.add_exception_handler(exc_class, handler)
    build = app.build_middleware_stack

    def build_with_an_outer_layer() -> ASGIApp:
        if app.user_middleware[0] is entry:  # no other middleware: one layer does it all
            return build()
        app.user_middleware.insert(0, entry)  # only while the stack is built
        try:
            return build()
        finally:
            app.user_middleware.pop(0)

    app.build_middleware_stack = build_with_an_outer_layer  # type: ignore[method-assign]
    if isinstance(app, FastAPI):
        openapi = app.openapi

        def openapi_with_our_errors() -> dict[str, Any]:
            return document_errors(openapi(), validation_status)  # FastAPI caches; this is idempotent

        app.openapi = openapi_with_our_errors  # type: ignore[method-assign]
