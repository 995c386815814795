"""The rich console every command prints through, sized for where its output goes.

On a terminal rich follows the terminal's width. Anywhere else (a pipe, a file, a CI log) rich would
wrap at 80 columns and break file paths and gate descriptions in two, so the width is ``COLUMNS``
when that is set and :data:`NON_TTY_WIDTH` (in effect, no wrapping) otherwise. Rich is imported on
first use only, so ``harness --help`` and ``harness validate`` do not pay for it.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["NON_TTY_WIDTH", "make_console", "output_width"]

NON_TTY_WIDTH = 1000
"""Columns when stdout is not a terminal and ``COLUMNS`` is not set. In effect no wrapping: nothing the
commands print fills the width (tables are as wide as their content), so lines are not padded to it."""


def output_width() -> int | None:
    """The width to force on the console, or None to let rich use the terminal's (or ``COLUMNS``)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return None  # rich reads COLUMNS itself
    try:
        terminal = sys.stdout is not None and sys.stdout.isatty()
    except ValueError:  # closed
        terminal = False
    return None if terminal else NON_TTY_WIDTH


def make_console(**options: Any) -> Console:
    """A ``rich.console.Console`` with ``options``, its width from :func:`output_width`."""
    from rich.console import Console

    return Console(width=output_width(), **options)
