"""The two wire formats for errors and the pieces that go into them.

- The envelope (the seed's format, ``application/json``)::

      {"error": {"code": "...", "message": "...", "detail"?: "...", "context"?: {...}},
       "request_id"?: "..."}

- RFC 9457 problem details (``application/problem+json``)::

      {"type": "about:blank", "title": "...", "status": 503, "detail"?: "...", "instance": "/path",
       "code": "...", "request_id": "...", <extension members>}

Validation problems list each offending field as ``{"in", "pointer", "type", "message"}`` where
``pointer`` is an RFC 6901 JSON Pointer into the part named by ``in`` (``body``, ``query``,
``path``, ``header``, ``cookie``). Neither format ever carries the rejected input.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

from resilience._i18n import CATALOGS

__all__ = [
    "ENVELOPE_MEDIA_TYPE",
    "PROBLEM_MEDIA_TYPE",
    "ErrorDetail",
    "ErrorResponse",
    "prefers_problem",
    "validation_items",
]

ENVELOPE_MEDIA_TYPE = "application/json"
PROBLEM_MEDIA_TYPE = "application/problem+json"

MAX_VALIDATION_ITEMS = 100
"""A body with thousands of bad fields gets the first 100 listed, to bound the answer."""

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})

# Constraint values from the schema (never from the input) that catalog messages may quote.
_QUOTABLE_CTX = frozenset(
    {"gt", "ge", "lt", "le", "multiple_of", "min_length", "max_length", "expected", "pattern"}
)
_QUOTE_LIMIT = 100


class ErrorDetail:
    """The ``error`` member of the envelope (seed name and shape)."""

    __slots__ = ("code", "context", "detail", "message")

    def __init__(
        self, code: str, message: str, detail: str | None = None, context: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.detail = detail
        self.context = context or {}

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "message"}`` plus ``detail`` and ``context`` when they are non-empty."""
        result: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            result["detail"] = self.detail
        if self.context:
            result["context"] = self.context
        return result


class ErrorResponse:
    """The whole envelope: an :class:`ErrorDetail`, the request id and the HTTP status."""

    __slots__ = ("error", "request_id", "status_code")

    def __init__(self, error: ErrorDetail, request_id: str | None = None, status_code: int = 500) -> None:
        self.error = error
        self.request_id = request_id
        self.status_code = status_code

    def to_dict(self) -> dict[str, Any]:
        """``{"error": {...}}`` plus ``request_id`` when there is one."""
        result: dict[str, Any] = {"error": self.error.to_dict()}
        if self.request_id:
            result["request_id"] = self.request_id
        return result


def prefers_problem(accept: str) -> bool:
    """Whether an ``Accept`` header ranks ``application/problem+json`` above ``application/json``.

    Only explicit mentions count (wildcards rank both equally), so ``*/*`` or no header keeps the
    configured default. Malformed quality values count as 0. Reads the first 1024 characters;
    results are cached per header value (bounded LRU).
    """
    return _prefers_problem(accept[:1024])


@functools.lru_cache(maxsize=256)
def _prefers_problem(accept: str) -> bool:
    q_problem = q_json = 0.0
    for part in accept.lower().split(",")[:32]:
        media, _, params = part.partition(";")
        media = media.strip()
        if media not in (PROBLEM_MEDIA_TYPE, ENVELOPE_MEDIA_TYPE):
            continue
        quality = _quality(params)
        if media == PROBLEM_MEDIA_TYPE:
            q_problem = max(q_problem, quality)
        else:
            q_json = max(q_json, quality)
    return q_problem > q_json


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name == "q":
            try:
                quality = float(value)
            except ValueError:
                return 0.0
            return quality if 0.0 <= quality <= 1.0 else 0.0
    return 1.0


def json_pointer(parts: Iterable[Any]) -> str:
    """RFC 6901: each part prefixed by ``/``, with ``~`` as ``~0`` and ``/`` as ``~1``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def validation_items(
    errors: Iterable[Mapping[str, Any]], language: str, *, body_is_json: bool = True, body: Any = None
) -> list[dict[str, str]]:
    """Pydantic/FastAPI error dicts -> safe items; ``input``, ``ctx`` and ``msg`` are dropped.

    The message comes from the catalog entry ``validation.<type>`` (else ``validation.invalid``),
    formatted only with schema constraints such as ``gt`` or ``max_length``, so neither the
    rejected value nor a custom validator's text (which may quote it) reaches the client. With
    ``body_is_json=False`` (the request declared another ``Content-Type``), a body that is not an
    object says so and names the header to send: FastAPI leaves such a body unparsed. ``body`` (the
    parsed request body) lets pointers skip pydantic's own labels, see :func:`_request_path`.
    """
    items: list[dict[str, str]] = []
    for error in errors:
        if len(items) == MAX_VALIDATION_ITEMS:
            break
        loc = tuple(error.get("loc", ()))
        where = str(loc[0]) if loc and loc[0] in _LOCATIONS else "body"
        path = loc[1:] if loc and loc[0] in _LOCATIONS else loc
        kind = str(error.get("type", "value_error"))
        # FastAPI puts the parse position into the location of a JSON syntax error.
        pointer = "" if kind == "json_invalid" else json_pointer(_request_path(path, where, body, kind))
        if not body_is_json and where == "body" and not pointer and kind in _NOT_AN_OBJECT:
            message = _item_message("body_not_json", None, language)
        else:
            message = _item_message(kind, error.get("ctx"), language)
        items.append({"in": where, "pointer": pointer, "type": kind, "message": message})
    return items


def _request_path(path: tuple[Any, ...], where: str, body: Any, kind: str) -> list[Any]:
    """``path`` without pydantic's labels, so the pointer addresses the request's own data.

    Pydantic's locations also name the union member tried (``int``, a tagged union's ``cat``)
    and dict-key checks (``[key]``): labels that exist nowhere in the request. Walking the body
    along the path keeps what is there, plus a missing field's name; parameters (query, path,
    header, cookie) are flat, so only their name and list indexes are kept.
    """
    if where != "body":
        return [part for i, part in enumerate(path) if i == 0 or isinstance(part, int)]
    if body is None:
        return list(path)
    kept: list[Any] = []
    node = body
    for i, part in enumerate(path):
        in_object = isinstance(node, dict) and part in node
        in_array = isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node)
        if in_object or in_array:
            node = node[part]
        elif not (isinstance(node, dict) and kind == "missing" and i == len(path) - 1):
            continue  # a label of pydantic's, not part of the request (a missing field's name stays)
        kept.append(part)
    return kept


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_NOT_AN_OBJECT = frozenset({"model_attributes_type", "dict_type", "model_type"})


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or ``application/<anything>+json``, parameters such as ``charset``
    ignored: the rule FastAPI uses to decide whether it parses a request body as JSON."""
    kind, _, subtype = content_type.partition(";")[0].strip().lower().partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _item_message(kind: str, ctx: Any, language: str) -> str:
    found = CATALOGS.lookup(language, f"validation.{kind}")
    if found is not None:
        template = found[1]
        values = ctx if isinstance(ctx, Mapping) else {}
        names = _PLACEHOLDER.findall(template)
        if all(name in _QUOTABLE_CTX and name in values for name in names):
            return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)])[:_QUOTE_LIMIT], template)
    generic = CATALOGS.lookup(language, "validation.invalid")
    return generic[1] if generic is not None else "Invalid value."
