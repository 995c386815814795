"""Error fingerprints: group messages that failed for the same reason.

``fingerprint = sha256(error_type + "\\0" + normalise(message))[:16]``, where normalising replaces the
parts that vary between occurrences of one fault (UUIDs, hex strings, quoted strings, numbers) with
placeholders and collapses whitespace. "timeout after 30.5s for order 1234" and "timeout after 2s
for order 99" therefore share one group.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["error_type_of", "fingerprint", "normalise"]

_MAX_NORMALISED = 500
_SUBSTITUTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"), "<uuid>"),
    (re.compile(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'"), "<str>"),
    (
        re.compile(r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{8,}\b"),
        "<hex>",
    ),
    (re.compile(r"[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"), "<num>"),
    (re.compile(r"\s+"), " "),
)
_TYPE_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*:\s")
_DEFAULT_TYPE = "Error"


def normalise(message: str) -> str:
    """The message with its variable parts replaced by ``<uuid>``, ``<str>``, ``<hex>``, ``<num>``."""
    text = message
    for pattern, placeholder in _SUBSTITUTIONS:
        text = pattern.sub(placeholder, text)
    return text.strip()[:_MAX_NORMALISED]


def error_type_of(error_message: str, error_type: str | None = None) -> str:
    """The explicit type if given, else a ``SomeError: ...`` prefix of the message, else ``Error``."""
    if error_type:
        return error_type
    match = _TYPE_PREFIX.match(error_message)
    return match.group(1) if match else _DEFAULT_TYPE


def fingerprint(error_type: str, error_message: str) -> tuple[str, str]:
    """Return ``(fingerprint, normalised message)`` for one error."""
    normalised = normalise(error_message)
    digest = hashlib.sha256(f"{error_type}\0{normalised}".encode()).hexdigest()[:16]
    return digest, normalised
