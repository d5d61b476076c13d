"""Where the conformance suites live, which of them apply to a target, and how a nested pytest run
loads the rig plugin.

The suites by what they need (GUIDE "Suites by what they need"): `usb` (USB 2.0 chapter 9, any
device), `usbmidi` (USB-MIDI 1.0 class, any class-compliant device), `midi` (MIDI behaviour over raw
USB-MIDI, a device that echoes: ours, one declared `echo`, or one with a DIN loopback cable),
`os-midi` (MIDI through the OS ports, e.g. midi:OUT,IN with a loop cable) and `board` (our
contract, which includes the os-midi tests). A target gets the suites whose features it has; the
others are listed with the reason.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from rig.errors import RigError, UnknownTargetError
from rig.targets.registry import KINDS, Feature, Target, TargetSpec

REPO_ROOT = Path(__file__).resolve().parents[2]
TESTS = REPO_ROOT / "tests"
SUITE_DIR = TESTS / "conformance"
PLUGIN = "rig.pytest_plugin"


@dataclass(frozen=True)
class Suite:
    """One conformance suite: its name, its tests and the target features it needs."""

    name: str
    path: Path
    needs: tuple[Feature, ...]
    judges: str

    def missing(self, target: Target) -> str:
        """Why the suite does not apply to `target` ("" when it does)."""
        return "; ".join(target.lacks(f) for f in self.needs if f not in target.features)


SUITES = (
    Suite("usb", TESTS / "conformance_usb", (Feature.USB,), "USB 2.0 chapter 9"),
    Suite("usbmidi", TESTS / "conformance_usbmidi", (Feature.USB, Feature.USB_MIDI), "USB-MIDI 1.0 class"),
    Suite("midi", TESTS / "conformance_midi", (Feature.USB, Feature.USB_MIDI, Feature.MIDI_ECHO),
          "MIDI 1.0 behaviour over raw USB-MIDI"),
    Suite("board", SUITE_DIR, (Feature.CONTRACT,), "our board's contract, docs/protocol.md"),
    Suite("os-midi", SUITE_DIR / "test_midi_os.py", (Feature.MIDI_OS,), "MIDI through the OS ports"),
)
"""Every suite `rig test` and `rig run` may pick, most general first."""


@dataclass(frozen=True)
class Picked:
    """The suites chosen for some targets: the paths to run and, per target, what was left out and why."""

    paths: tuple[Path, ...]
    lines: tuple[str, ...]


def pick_suites(targets: Sequence[Target]) -> Picked:
    """The suites that apply to at least one of the (opened) targets, and a line per target and suite
    saying whether it runs and, if not, why (a suite a target lacks runs for the others, where its
    tests skip on that target with the same reason)."""
    paths: list[Path] = []
    lines: list[str] = []
    for target in targets:
        board = Feature.CONTRACT in target.features
        for suite in SUITES:
            why = suite.missing(target)
            if suite.name == "os-midi" and board:
                continue  # part of the board suite
            if why:
                lines.append(f"{target.name}: suite {suite.name} ({suite.judges}) not applicable: {why}")
            else:
                lines.append(f"{target.name}: suite {suite.name} ({suite.judges}) runs")
                if suite.path not in paths:
                    paths.append(suite.path)
    if SUITE_DIR in paths:  # the board suite holds the os-midi file: name the directory once
        paths = [p for p in paths if SUITE_DIR not in p.parents]
    return Picked(tuple(paths), tuple(lines))


class SuiteMissing(RigError, FileNotFoundError):
    """The conformance suite is not where this checkout keeps it."""


def suite_dir(override: str | None = None) -> Path:
    """The test directory to run: `override`, else the checkout's tests/conformance."""
    path = Path(override) if override else SUITE_DIR
    if not path.exists():
        raise SuiteMissing(f"test suite {path} not found (rig test/run need a source checkout: "
                           f"pip install -e . from the repository)")
    return path


def suite_args(override: str | None = None, paths: Sequence[Path] = ()) -> list[str]:
    """The suite paths (`override`, else `paths`, else tests/conformance) and `--confcutdir` on the
    first one's directory: a user's run loads the suites' conftest files only, not tests/conftest.py
    (which points HOME and the history at a temporary directory for the rig's own test session)."""
    chosen = [suite_dir(override)] if override or not paths else [suite_dir(str(p)) for p in paths]
    first = chosen[0] if chosen[0].is_dir() else chosen[0].parent
    return [*map(str, chosen), "--confcutdir", str(first)]


def picked_suites(specs: Sequence[str]) -> Picked | None:
    """Open each target to learn what it can do, pick the suites, close it again; None when a target
    does not open (the pytest run then reports the cause once, as --rig-open-early does)."""
    from rig.targets.factory import make_target

    opened: list[Target] = []
    try:
        for spec in specs:
            target = make_target(spec)
            try:
                target.open()
            except Exception:
                target.close()
                return None
            opened.append(target)
        return pick_suites(opened)
    finally:
        for target in opened:
            target.close()


def valid_spec(text: str) -> str:
    """The normalised --rig value; UnknownTargetError (one line) when it names no kind of target."""
    spec = TargetSpec.parse(text)
    if spec.kind not in KINDS:
        raise UnknownTargetError(f"unknown target {text!r}; expected one of {', '.join(KINDS)}")
    return str(spec)


def plugin_args() -> list[str]:
    """`-p rig.pytest_plugin`, unless an installed pytest11 entry point already loads it; and labgrid's
    own pytest plugin left out when the labgrid extra installed it (the rig reaches labgrid through
    rig.labgrid; that plugin's hooks fail in the sessions `rig run` starts: no option 'verbose')."""
    entries = list(metadata.entry_points(group="pytest11"))
    args = [] if any(entry.value == PLUGIN for entry in entries) else ["-p", PLUGIN]
    if any(entry.name == "labgrid" for entry in entries):
        args += ["-p", "no:labgrid"]
    return args


def add_history_options(parser: argparse.ArgumentParser) -> None:
    """`--history` and `--baseline` (rig test, rig run): the pytest plugin's --rig-history and
    --rig-baseline (rig.pytest_plugin.history_store)."""
    parser.add_argument("--history", action="store_true",
                        help="store the outcomes per target in the run history ($RIG_HISTORY, else "
                             "~/.local/share/rig/history.sqlite)")
    parser.add_argument("--baseline", metavar="RUN", default=None,
                        help="compare the outcomes per target with the session of run RUN (an id `rig "
                             "history` lists) or 'latest' (the newest earlier session); a test that passed "
                             "there and fails now fails the run (implies --history)")


def history_args(args: argparse.Namespace) -> list[str]:
    """The pytest arguments for --history / --baseline."""
    if args.baseline is not None:
        return ["--rig-history", "--rig-baseline", args.baseline]
    return ["--rig-history"] if args.history else []
