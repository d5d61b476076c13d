"""`rig udev-rules`: print udev rules giving one group access to the board (MODE 0660, never 0666)."""

from __future__ import annotations

import argparse
import sys

from rig import contract as c
from rig.tools.udev import render_rules


def _hex16(text: str) -> int:
    """A USB ID in hex, 0000-ffff (argparse turns the error into a usage message, exit 2)."""
    try:
        value = int(text, 16)
    except ValueError:
        value = -1
    if not 0 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"{text!r} is not a 16-bit hexadecimal USB ID (0000-ffff)")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("udev-rules", help="print udev rules granting a group access to the board",
                       description="Print udev rules (MODE 0660 + GROUP) for the board, its BOOTSEL "
                                   "bootloader and its console tty.")
    p.add_argument("--group", default="plugdev", help="group given access (default: plugdev)")
    p.add_argument("--vid", type=_hex16, default=c.VID, help=f"vendor ID in hex (default {c.VID:04x})")
    p.add_argument("--pid", type=_hex16, default=c.PID, help=f"product ID in hex (default {c.PID:04x})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the rules."""
    sys.stdout.write(render_rules(args.group, args.vid, args.pid))
    return 0
