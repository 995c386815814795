"""The result document itself, as indented JSON (``result.json``)."""

from __future__ import annotations

from harness.result import RunResult

__all__ = ["render"]


def render(result: RunResult) -> str:
    return result.to_json() + "\n"
