"""`rig doctor`: one OK/MISSING line per thing the rig needs, with exactly what to do."""

from __future__ import annotations

import argparse

from rich.text import Text

from rig.cli._out import STATUS_STYLE, stdout
from rig.tools.doctor import MISSING, format_line, run_checks


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("doctor", help="check libusb, permissions, MIDI system, Node.js, arm gcc, emulator",
                       description="Check what the rig needs on this machine; exit 1 when something is "
                                   "MISSING.")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print every check; exit 1 if any is MISSING."""
    out = stdout()
    checks = run_checks()
    for check in checks:
        line = format_line(check)
        out.print(Text.assemble((line[:7], STATUS_STYLE.get(check.status, "")), line[7:]))
    missing = sum(1 for ch in checks if ch.status == MISSING)
    out.print(f"{missing} missing" if missing else "everything the rig needs is here")
    return 1 if missing else 0
