"""Shared output helpers for the CLI: one rich console for stdout, one-line errors on stderr."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def stdout() -> Console:
    """A rich console on the current sys.stdout (so tests capturing stdout see the output); rich is
    imported here, not by every `rig` start (`rig.cli` imports this module for `error`)."""
    from rich.console import Console

    return Console(file=sys.stdout, highlight=False, soft_wrap=True)


def error(message: str) -> None:
    """`rig: error: <message>` on stderr, one line."""
    print(f"rig: error: {message}", file=sys.stderr)


STATUS_STYLE = {"OK": "green", "MISSING": "bold red", "N/A": "dim", "PASSED": "green", "FAILED": "bold red",
                "ERROR": "bold red", "SKIPPED": "yellow", "XFAILED": "yellow", "XPASSED": "yellow"}
