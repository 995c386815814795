"""Reports: each a pure function of the result document, so any can be rebuilt later from result.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.reports import html, json, junit, markdown
from harness.result import RunResult

__all__ = ["FILES", "RENDERERS", "write_reports"]

RENDERERS: dict[str, Callable[[RunResult], str]] = {
    "json": json.render,
    "junit": junit.render,
    "md": markdown.render,
    "html": html.render,
}
"""Renderer by format name (the ``--format`` of ``harness report``)."""

FILES: dict[str, str] = {
    "json": "result.json",
    "junit": "junit.xml",
    "md": "summary.md",
    "html": "report.html",
}
"""File name of each format inside a run's report folder."""


def write_reports(result: RunResult, directory: Path) -> dict[str, Path]:
    """Write every format into ``directory`` (created); returns the path per format."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for fmt, render in RENDERERS.items():
        path = directory / FILES[fmt]
        path.write_text(render(result), encoding="utf-8")
        written[fmt] = path
    return written
