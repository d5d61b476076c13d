"""The `rig` command: list, doctor, test, run, console, flash, udev-rules, latency, throughput, history.

Expected errors (a RigError, a missing file) print one line naming what was wrong and exit 1;
argument errors exit 2 (argparse); tracebacks are kept for bugs. Ctrl-C and SIGTERM interrupt a
command alike: what was measured is reported, marked interrupted, and the exit status is 130.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from rig.cli._out import error
from rig.errors import RigError, Terminated
from rig.interrupts import interrupts_outside_cleanup

COMMAND_MODULES = {"list": "list_cmd", "doctor": "doctor_cmd", "test": "test_cmd", "run": "run_cmd",
                   "console": "console_cmd", "flash": "flash_cmd", "udev-rules": "udev_cmd",
                   "latency": "latency_cmd", "throughput": "throughput_cmd", "history": "history_cmd"}
"""Command -> its module in rig.cli, in the order `rig --help` lists them. A `rig COMMAND` process
imports only its command's module (the ten together pull in pytest, the plugin, numpy and the
measurement stack: 0.5 s CPU per start, paid by every `rig` subprocess the tests start)."""
REMOTE_COMMANDS = {"test", "run", "latency", "throughput"}
"""Commands that run where a labgrid place's board is when --rig names one (rig.labgrid.remote)."""
PASS_THROUGH = {"test"}
"""Commands that hand unknown arguments on to pytest."""


class DefaultsFormatter(argparse.HelpFormatter):
    """Help that shows each option's default, unless the text already says it or there is none to
    show (None, False, an empty string)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if ("default" in text.lower() or not action.option_strings or default in (None, False, "")
                or default is argparse.SUPPRESS):
            return action.help
        return f"{text} (default: %(default)s)"


def _finish_subparsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Every command's --help: its defaults shown, and a description (its one-line help when the
    module gives none)."""
    helps = {action.dest: action.help for action in sub._choices_actions}
    for name, parser in sub.choices.items():
        parser.formatter_class = DefaultsFormatter
        if not parser.description and helps.get(name):
            text = helps[name] or ""
            parser.description = text[:1].upper() + text[1:] + "."


def __getattr__(name: str) -> tuple[ModuleType, ...]:
    """COMMANDS: every command's module, imported on first use."""
    if name == "COMMANDS":
        return tuple(_command_module(command) for command in COMMAND_MODULES)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _command_module(command: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{COMMAND_MODULES[command]}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argparse tree; each command module adds its own subparser. With `command` (the first
    argument) a known command, only its subparser: what parsing that command line needs."""
    parser = argparse.ArgumentParser(
        prog="rig", description="Hardware-in-the-loop test rig for USB-MIDI devices.",
        epilog="Targets (--rig): loopback (software board), emulator (firmware in rp2040js), "
               "board[:SERIAL] (attached RP2040), midi:OUT,IN (MIDI interface with a loop cable), "
               "labgrid:PLACE (a board in a labgrid place, with the labgrid extra), "
               "usb:VID:PID[:SERIAL] or usb:BUS-PORT (any USB device; ,echo ,loop ,cable=N ,listen=S).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in [command] if command in COMMAND_MODULES else COMMAND_MODULES:
        _command_module(name).register(sub)
    _finish_subparsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code. SIGTERM is taken as a Ctrl-C
    (rig.errors.Terminated), and neither lands inside cleanup (rig.interrupts)."""
    with interrupts_outside_cleanup():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    raw = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(raw[0] if raw else None)
    args, extra = parser.parse_known_args(raw)
    if args.command in REMOTE_COMMANDS and any("labgrid:" in a for a in raw):
        from rig.cli.remote_runs import finish_remote
        from rig.labgrid.remote import labgrid_spec, run_on_place

        if labgrid_spec(raw) is not None:
            try:
                return finish_remote(run_on_place(raw))
            except RigError as exc:
                error(str(exc))
                return 1
            except KeyboardInterrupt as exc:
                error(f"interrupted{_by(exc)} (the labgrid place was released)")
                return 130
    if extra and args.command not in PASS_THROUGH:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args))
    except RigError as exc:
        error(str(exc))
    except (FileNotFoundError, PermissionError, IsADirectoryError) as exc:
        error(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    except KeyboardInterrupt as exc:
        error(f"interrupted{_by(exc)}")
        return 130
    return 1


def _by(exc: KeyboardInterrupt) -> str:
    return f" by {exc}" if isinstance(exc, Terminated) else ""


if __name__ == "__main__":  # pragma: no cover - python -m rig.cli
    sys.exit(main())
