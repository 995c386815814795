"""Run defaults the CLI shows in its help; no imports beyond pathlib, so the help stays light."""

from __future__ import annotations

from pathlib import Path

DEFAULT_STATE_DIR = Path("reports") / ".state"
"""Where a run records the faults it applied, so a later run or ``harness cleanup`` can remove them."""
