"""Message catalogs keyed by error code, and ``Accept-Language`` negotiation.

Catalogs ship as ``resilience/locales/<language>.json`` (flat ``{"CODE": "text"}`` objects) and
load on first use; applications add languages or codes with :func:`register_messages`. Codes never
change with the language, only the text does.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Mapping
from importlib import resources

__all__ = ["CATALOGS", "DEFAULT_LANGUAGE", "Catalogs", "negotiate_language", "register_messages"]

DEFAULT_LANGUAGE = "en"

_MAX_RANGES = 16
"""Only the first 16 language ranges of a header are considered (bounded work per request)."""

_MAX_HEADER = 512
_RANGE_RE = re.compile(r"(?:[a-z]{1,8}(?:-[a-z0-9]{1,8})*|\*)")
_QUALITY_RE = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)")


class Catalogs:
    """All message catalogs, one flat mapping per language tag (stored lowercase)."""

    def __init__(self) -> None:
        self._messages: dict[str, dict[str, str]] | None = None
        self._tags: dict[str, str] = {}  # lowercase -> tag as written, for Content-Language
        self._languages: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def _loaded(self) -> dict[str, dict[str, str]]:
        messages = self._messages
        if messages is None:
            with self._lock:
                if self._messages is None:
                    loaded: dict[str, dict[str, str]] = {}
                    for entry in resources.files("resilience").joinpath("locales").iterdir():
                        if entry.name.endswith(".json"):
                            tag = entry.name.removesuffix(".json")
                            loaded[tag.lower()] = json.loads(entry.read_text(encoding="utf-8"))
                            self._tags[tag.lower()] = tag
                    self._languages = frozenset(loaded)
                    self._messages = loaded
                messages = self._messages
        return messages

    def languages(self) -> frozenset[str]:
        """The lowercase tags that have a catalog."""
        self._loaded()
        return self._languages

    def tag(self, language: str) -> str:
        """The tag as its catalog spells it (``de-CH``), for ``Content-Language``."""
        self._loaded()
        return self._tags.get(language, language)

    def register(self, language: str, messages: Mapping[str, str]) -> None:
        """Add or override messages for ``language`` (a BCP 47 tag such as ``de`` or ``pt-BR``)."""
        key = language.strip().lower()
        if not _RANGE_RE.fullmatch(key) or key == "*":
            raise ValueError(f"language must be a language tag such as 'de' or 'pt-BR', got {language!r}")
        bad = [k for k, v in messages.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise TypeError(f"catalog entries must map str codes to str messages; offending keys: {bad!r}")
        loaded = self._loaded()
        with self._lock:
            loaded.setdefault(key, {}).update(messages)
            self._tags.setdefault(key, language.strip())
            self._languages = frozenset(loaded)
        _negotiate.cache_clear()

    def lookup(self, language: str, key: str) -> tuple[str, str] | None:
        """``(language, message)`` for ``key`` from ``language``, its parent tags, then English.

        The returned language is the one that had the message (for ``Content-Language``).
        """
        loaded = self._loaded()
        for candidate in (*_truncations(language), DEFAULT_LANGUAGE):
            text = loaded.get(candidate, {}).get(key)
            if text is not None:
                return candidate, text
        return None


CATALOGS = Catalogs()


def register_messages(language: str, messages: Mapping[str, str]) -> None:
    """Add or override catalog messages, e.g. ``register_messages("de", {"ORDER_LOCKED": "..."})``."""
    CATALOGS.register(language, messages)


def _truncations(tag: str) -> tuple[str, ...]:
    """``"zh-hant-tw"`` -> ``("zh-hant-tw", "zh-hant", "zh")``: the RFC 4647 lookup fallbacks."""
    parts = tag.split("-")
    return tuple("-".join(parts[:n]) for n in range(len(parts), 0, -1))


def negotiate_language(header: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The best catalog language for an ``Accept-Language`` header (lowercase tag).

    Ranges are tried in order of quality (``q``, default 1; ``q=0`` excludes), each with its
    fallbacks (``de-CH`` -> ``de``); ``*`` or no match gives ``default``. Malformed ranges are
    skipped. Only the first 512 characters are read, and results are cached per header value
    (bounded LRU), so hostile headers cost bounded time and memory.
    """
    if not header:
        return default
    return _negotiate(header[:_MAX_HEADER], default, CATALOGS.languages())


@functools.lru_cache(maxsize=512)
def _negotiate(header: str, default: str, available: frozenset[str]) -> str:
    ranges: list[tuple[float, str]] = []
    excluded: set[str] = set()
    for part in header.lower().split(",")[:_MAX_RANGES]:
        tag, _, params = part.partition(";")
        tag = tag.strip()
        quality = _quality(params) if params else 1.0
        if not _RANGE_RE.fullmatch(tag) or quality is None:
            continue
        if quality > 0:
            ranges.append((quality, tag))
        else:
            excluded.add(tag)
    ranges.sort(key=lambda r: -r[0])  # stable: equal qualities keep header order
    for _, tag in ranges:
        if tag == "*":  # any language the client did not exclude, the default first
            allowed = [lang for lang in (default, *sorted(available)) if lang not in excluded]
            return allowed[0] if allowed else default
        for candidate in _truncations(tag):
            if candidate in available and candidate not in excluded:
                return candidate
    return default


def _quality(params: str) -> float | None:
    """The ``q`` parameter among others (``q=0.5;level=1``); 1 without one, ``None`` if malformed."""
    for param in params.split(";"):
        param = param.strip().replace(" ", "")
        if param.startswith("q="):
            match = _QUALITY_RE.fullmatch(param)
            return float(match.group(1)) if match else None
    return 1.0
