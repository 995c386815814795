"""Hostile header values never crash negotiation and never let unsafe ids through."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience._i18n import CATALOGS, negotiate_language
from resilience._payload import json_pointer, prefers_problem
from resilience._request_id import accept_request_id

header_text = st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=2000)


@settings(max_examples=200)
@given(header_text)
def test_any_accept_language_gives_an_available_language(header: str) -> None:
    assert negotiate_language(header) in CATALOGS.languages()


@settings(max_examples=200)
@given(header_text)
def test_any_accept_header_gives_a_decision(header: str) -> None:
    assert prefers_problem(header) in (True, False)


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_only_safe_request_ids_are_accepted(raw: bytes) -> None:
    accepted = accept_request_id(raw)
    if accepted is not None:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:+/=-]{0,127}", accepted)
        assert accepted.encode("latin-1") == raw


@given(st.lists(st.one_of(st.text(max_size=10), st.integers(0, 99)), max_size=6))
def test_json_pointer_round_trips(parts: list[str | int]) -> None:
    pointer = json_pointer(parts)
    decoded = [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]
    assert decoded == [str(p) for p in parts]
