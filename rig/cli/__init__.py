"""The `rig` command: list, doctor, test, run, console, flash, udev-rules, latency, throughput, history.

Expected errors (a RigError, a missing file) print one line naming what was wrong and exit 1;
argument errors exit 2 (argparse); tracebacks are kept for bugs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rig.cli._out import error
from rig.errors import RigError

from . import (
    console_cmd,
    doctor_cmd,
    flash_cmd,
    history_cmd,
    latency_cmd,
    list_cmd,
    run_cmd,
    test_cmd,
    throughput_cmd,
    udev_cmd,
)

COMMANDS = (list_cmd, doctor_cmd, test_cmd, run_cmd, console_cmd, flash_cmd, udev_cmd, latency_cmd,
            throughput_cmd, history_cmd)
PASS_THROUGH = {"test"}
"""Commands that hand unknown arguments on to pytest."""


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree; each command module adds its own subparser."""
    parser = argparse.ArgumentParser(
        prog="rig", description="Hardware-in-the-loop test rig for USB-MIDI devices.",
        epilog="Targets (--rig): loopback (software board), emulator (firmware in rp2040js), "
               "board[:SERIAL] (attached RP2040), midi:OUT,IN (MIDI interface with a loop cable), "
               "usb:VID:PID[:SERIAL] or usb:BUS-PORT (any USB device; ,echo ,loop ,cable=N ,listen=S).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = build_parser()
    args, extra = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if extra and args.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args))
    except RigError as exc:
        error(str(exc))
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    return 1


if __name__ == "__main__":  # pragma: no cover - python -m rig.cli
    sys.exit(main())
