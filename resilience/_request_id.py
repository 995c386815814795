"""Request ids: accept a caller's well-formed id or mint one, and make it visible to logging.

The id of the request being handled lives in a :class:`~contextvars.ContextVar`, so any code
running for that request (including log calls deep in a handler) can read it without passing
it around; :class:`RequestIdFilter` copies it onto log records as ``record.request_id``.
"""

from __future__ import annotations

import logging
import os
import re
from contextvars import ContextVar

__all__ = ["RequestIdFilter", "accept_request_id", "get_request_id", "new_request_id"]

MAX_REQUEST_ID_LENGTH = 128
"""Longer incoming ids are replaced, so a client cannot bloat log lines or headers."""

# Letters, digits and the punctuation found in UUIDs, ULIDs, W3C trace ids and base64 tokens.
_WELL_FORMED = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:+/=-]{{0,{MAX_REQUEST_ID_LENGTH - 1}}}")

_POOL_SIZE = 256
_pool: list[str] = []  # ids minted ahead, taken from the end
os.register_at_fork(after_in_child=_pool.clear)

current_request_id: ContextVar[str | None] = ContextVar("resilience_request_id", default=None)


def new_request_id() -> str:
    """A fresh id: 32 lowercase hex digits, 128 bits from :func:`os.urandom`.

    Ids are cut from one ``urandom`` call per :data:`_POOL_SIZE` requests: on the success path
    this is the cheapest source (``uuid4()`` costs several microseconds, one ``urandom`` call per
    id about one). ``list.pop`` is atomic, so threads never share an id, and a forked child
    starts with an empty pool, so it never repeats its parent's ids.
    """
    try:
        return _pool.pop()
    except IndexError:
        # hex() with a separator every 16 bytes, then split: all in C, no Python loop.
        _pool.extend(os.urandom(16 * _POOL_SIZE).hex(" ", 16).split(" "))
        return _pool.pop()


def accept_request_id(raw: bytes) -> str | None:
    """The incoming header value if it is well formed (1..128 safe characters), else ``None``."""
    if len(raw) > MAX_REQUEST_ID_LENGTH:
        return None
    value = raw.decode("latin-1")
    return value if _WELL_FORMED.fullmatch(value) else None


def get_request_id() -> str | None:
    """The id of the request being handled in this context, or ``None`` outside a request."""
    return current_request_id.get()


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` (``"-"`` outside a request) so formats can use ``%(request_id)s``.

    Attach it to a handler (``handler.addFilter(RequestIdFilter())``) to cover every logger that
    propagates to that handler. A record that already carries ``request_id`` keeps it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get() or "-"
        return True
