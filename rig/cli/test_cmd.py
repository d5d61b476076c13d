"""`rig test`: the conformance suites that apply to the target(s) through pytest with the rig plugin
(each suite not applicable is listed with the reason first), JUnit XML on request."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pytest

from rig.cli._out import stdout
from rig.cli._suite import (
    Picked,
    add_history_options,
    history_args,
    picked_suites,
    plugin_args,
    suite_args,
    valid_spec,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("test", help="run the conformance suite (extra arguments go to pytest)",
                       description="Run the conformance suite on the target(s) with pytest; any argument "
                                   "rig does not know (e.g. -k NAME, -x, -v) is passed to pytest.")
    p.add_argument("--rig", metavar="SPEC", action="append", default=None,
                   help="target; repeat to run on several (default: board if attached, else loopback)")
    p.add_argument("--junit", metavar="FILE", default=None, help="write JUnit XML to FILE")
    p.add_argument("--rig-strict", action="store_true", help="capability skips the target should not have "
                                                             "fail (as in CI)")
    p.add_argument("--suite", metavar="DIR", default=None, help="run these tests instead of the conformance "
                                                                "suites that apply to the target")
    p.add_argument("--capture", metavar="FILE", default=None,
                   help="record the USB traffic of every test into FILE (pcapng for Wireshark; a comment "
                        "names each test on its first packet)")
    add_history_options(p)
    p.set_defaults(func=run)


def pytest_args(args: argparse.Namespace, paths: Sequence[Path] = ()) -> list[str]:
    """The pytest command line `rig test` runs (on `paths`, the picked suites, unless --suite)."""
    argv = [*suite_args(args.suite, paths), *plugin_args(), "--rig-open-early"]
    for spec in args.rig or []:
        argv += ["--rig", valid_spec(spec)]
    if args.junit:
        argv += ["--junitxml", args.junit]
    if args.rig_strict:
        argv.append("--rig-strict")
    if args.capture:
        argv += ["--rig-capture-file", args.capture]
    return argv + history_args(args) + list(getattr(args, "extra", []))


def pick(specs: Sequence[str], suite: str | None) -> Picked | None:
    """The suites for the targets (None with --suite, or when a target does not open), printed."""
    if suite:
        return None
    picked = picked_suites(specs)
    if picked is not None:
        out = stdout()
        for line in picked.lines:
            out.print(line, highlight=False, markup=False)
    return picked


def run(args: argparse.Namespace) -> int:
    """Pick the suites, then pytest.main with the plugin; its exit code is ours."""
    from rig.pytest_plugin.options import default_spec

    specs = [valid_spec(spec) for spec in args.rig] if args.rig else [default_spec()]
    picked = pick(specs, args.suite)
    return int(pytest.main(pytest_args(args, picked.paths if picked else ())))
