"""JSON as Go's ``encoding/json`` reads and writes it, where clients can tell the difference.

Reading (spec §2): only the first value counts (trailing bytes are ignored), an empty body is ``EOF``,
object keys match field names case-insensitively (a later duplicate wins), ``null`` leaves a field at its
default, unknown keys are ignored, and a value of the wrong type is reported with Go's message while the
other fields are still decoded (Go keeps going after a type error). Integers written with a fraction or an
exponent (``100.0``, ``1e2``) are refused. Writing: compact, keys in the given order, ``<>&`` escaped,
float32 values printed in their shortest form (``0.1``, ``1``).
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass
from typing import Any

INT_RANGES = {"int64": (-(2**63), 2**63 - 1), "int": (-(2**63), 2**63 - 1)}
FLOAT32_MAX = 3.4028234663852886e38
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class GoJSONError(Exception):
    """A decode failure, worded as Go words it (without the ``bad request body: `` prefix)."""


class _Number(float):
    """A JSON number written with a fraction or exponent, keeping its source text for messages."""

    text: str

    def __new__(cls, text: str) -> _Number:
        number = super().__new__(cls, float(text))
        number.text = text
        return number


class _Constant(Exception):
    pass


def _refuse_constant(name: str) -> None:
    raise _Constant(name)


_DECODER = json.JSONDecoder(parse_float=_Number, parse_constant=_refuse_constant)


def parse(body: bytes) -> Any:
    """The first JSON value in ``body``; raises :class:`GoJSONError` with Go's syntax error text."""
    text = body.decode("utf-8", errors="replace").lstrip(" \t\r\n")
    if not text:
        raise GoJSONError("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)
    except _Constant as exc:
        name = str(exc)
        if name.startswith("-"):
            raise GoJSONError("invalid character 'I' in numeric literal") from None
        raise GoJSONError(f"invalid character {_quote(name[0])} looking for beginning of value") from None
    except json.JSONDecodeError as exc:
        raise GoJSONError(_syntax_message(text, exc)) from None
    except RecursionError:
        raise GoJSONError("exceeded max depth") from None
    return value


def _syntax_message(text: str, exc: json.JSONDecodeError) -> str:
    pos = exc.pos
    if pos >= len(text.rstrip(" \t\r\n")) or exc.msg.startswith("Unterminated string"):
        return "unexpected EOF"
    char = _quote(text[pos])
    literal = next((word for word in ("true", "false", "null") if word[0] == text[pos]), None)
    if literal is not None and exc.msg.startswith("Expecting value"):
        for offset, expected in enumerate(literal[1:], start=1):
            if pos + offset >= len(text):
                return "unexpected EOF"
            if text[pos + offset] != expected:
                found = _quote(text[pos + offset])
                return f"invalid character {found} in literal {literal} (expecting {_quote(expected)})"
    if exc.msg.startswith("Expecting property name"):
        return f"invalid character {char} looking for beginning of object key string"
    if exc.msg.startswith("Expecting ':'"):
        return f"invalid character {char} after object key"
    if exc.msg.startswith("Expecting ','"):
        where = "object key:value pair" if _innermost(text, pos) == "{" else "array element"
        return f"invalid character {char} after {where}"
    if exc.msg.startswith("Invalid control character"):
        return f"invalid character {char} in string literal"
    if exc.msg.startswith("Invalid \\escape"):
        return f"invalid character {_quote(text[pos + 1 : pos + 2] or ' ')} in string escape code"
    return f"invalid character {char} looking for beginning of value"


def _innermost(text: str, pos: int) -> str:
    """The innermost open bracket at ``pos`` (strings skipped)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text[:pos]:
        if in_string:
            escaped = not escaped and char == "\\"
            in_string = escaped or char != '"'
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _quote(char: str) -> str:
    """A character quoted like Go's ``%q`` of a rune, as in ``invalid character 'x'``."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "'": "\\'", "\\": "\\\\"}
    if char in named:
        return f"'{named[char]}'"
    if ord(char) < 0x20:
        return f"'\\x{ord(char):02x}'"
    return f"'{char}'"


def json_kind(value: Any) -> str:
    """The JSON type name Go uses in ``cannot unmarshal X into ...``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass(frozen=True)
class Field:
    """A Go struct field: its JSON key, Go type (``string``, ``bool``, ``int64``, ``int``, ``float32``).

    ``where`` overrides the struct path shown in messages (a field of an outer, embedding struct).
    """

    key: str
    go_type: str
    where: str | None = None


def decode_object(
    value: Any, fields: list[Field], where: str, go_value: str
) -> tuple[dict[str, Any], str | None]:
    """Decode ``value`` into ``fields`` the way Go fills a struct.

    Returns the fields that were set (by key) and the first type error, if any, as Go's message.
    ``where`` prefixes field names in messages (``Proxy``, ``LatencyToxic.attributes``);
    ``go_value`` names the struct when the value is not an object at all.
    """
    if value is None:
        return {}, None
    if not isinstance(value, dict):
        return {}, f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_value}"
    by_name = {field.key.lower(): field for field in fields}
    result: dict[str, Any] = {}
    first_error: str | None = None
    for key, item in value.items():
        field = by_name.get(key.lower())
        if field is None or item is None:
            continue
        try:
            result[field.key] = convert(item, field.go_type)
        except GoJSONError as exc:
            path = where if field.where is None else field.where
            target = f"Go struct field {path}.{field.key} of type {field.go_type}"
            first_error = first_error or f"json: cannot unmarshal {exc} into {target}"
    return result, first_error


def convert(item: Any, go_type: str) -> Any:
    """``item`` as a value of ``go_type``; raises GoJSONError("<kind>") or ("number <text>").

    A ``toxics.*`` type stands for a toxic's attributes: any object, decoded later into its own type.
    """
    is_number = isinstance(item, (int, float)) and not isinstance(item, bool)
    if go_type in INT_RANGES and is_number:
        low, high = INT_RANGES[go_type]
        if isinstance(item, _Number) or not low <= item <= high:
            raise GoJSONError(f"number {getattr(item, 'text', item)}")
        return item
    if go_type == "float32" and is_number:
        if abs(float(item)) > FLOAT32_MAX:
            raise GoJSONError(f"number {getattr(item, 'text', item)}")
        return float(item)
    if go_type == "string" and isinstance(item, str):
        return _LONE_SURROGATE.sub("\ufffd", item)  # Go decodes an unpaired \uD800 escape as U+FFFD
    expected = {"bool": bool}.get(go_type, dict if go_type.startswith("toxics.") else None)
    if expected is not None and isinstance(item, expected):
        return item
    raise GoJSONError(json_kind(item))


# -- writing -------------------------------------------------------------------------------------------


class Float32(float):
    """A float printed the way Go prints a float32 (shortest text that reads back to the same float32)."""


def dumps(value: Any) -> bytes:
    """Compact JSON, keys in insertion order, with Go's escaping of ``<``, ``>``, ``&``."""
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ",".join(f"{_string(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, str):
        return _string(value)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, Float32):
        return format_float32(value)
    return json.dumps(value)


def _string(text: str) -> str:
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        encoded = encoded.replace(char, escape)
    return encoded


def format_float32(value: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f' or 'e', -1, 32)`` as ``encoding/json`` picks it."""
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"unsupported value: {value}")
    target = struct.pack("f", value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("f", float(text)) == target:
            break
    number = float(text)
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        mantissa, exponent = f"{number:.{digits - 1}e}".split("e")
        return f"{mantissa}e{exponent[0]}{exponent[1:].lstrip('0') or '0'}"
    if "e" in text:
        text = f"{number:.{max(digits - 1 - math.floor(math.log10(magnitude)), 0)}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
