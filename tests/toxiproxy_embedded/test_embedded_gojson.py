"""JSON as Go's encoding/json reads and writes it: the details clients can see."""

from __future__ import annotations

import struct

import pytest

from harness.toxiproxy.gojson import Field, Float32, GoJSONError, decode_object, dumps, format_float32, parse


def f32(value: float) -> float:
    result: float = struct.unpack("f", struct.pack("f", value))[0]
    return result


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1.0, "1"),
        (0.1, "0.1"),
        (0.25, "0.25"),
        (-1.0, "-1"),
        (2.0, "2"),
        (1e-7, "1e-7"),
        (123456789.0, "123456790"),
    ],
)
def test_float32_is_printed_in_its_shortest_form(value: float, text: str) -> None:
    assert format_float32(f32(value)) == text


def test_output_is_compact_ordered_and_escapes_html_characters() -> None:
    assert dumps({"b": "<&>", "a": [1, True, None], "t": Float32(f32(0.5))}) == (
        b'{"b":"\\u003c\\u0026\\u003e","a":[1,true,null],"t":0.5}'
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "EOF"),
        (b" \n ", "EOF"),
        (b"{", "unexpected EOF"),
        (b'{"a":"unterminated', "unexpected EOF"),
        (b"[1 2]", "invalid character '2' after array element"),
        (b'{"a":1,}', "invalid character '}' looking for beginning of object key string"),
        (b'{"a":fals}', "invalid character '}' in literal false (expecting 'e')"),
        (b'{"a":"x\ny"}', "invalid character '\\n' in string literal"),
    ],
)
def test_syntax_errors_use_go_wording(body: bytes, message: str) -> None:
    with pytest.raises(GoJSONError) as raised:
        parse(body)
    assert str(raised.value) == message


def test_first_value_only_and_trailing_bytes_ignored() -> None:
    assert parse(b'{"a":1} {"b":') == {"a": 1}


def test_decode_matches_keys_case_insensitively_and_keeps_going_after_type_errors() -> None:
    fields = [Field("name", "string"), Field("rate", "int64"), Field("on", "bool")]
    decoded, problem = decode_object(
        parse(b'{"NAME":"x","rate":1.0,"On":true,"name":null}'), fields, "T", "t.T"
    )
    assert decoded == {"name": "x", "on": True}
    assert problem == "json: cannot unmarshal number 1.0 into Go struct field T.rate of type int64"
