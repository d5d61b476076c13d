"""`rig test`: the conformance suite through pytest with the rig plugin, JUnit XML on request."""

from __future__ import annotations

import argparse

import pytest

from rig.cli._suite import plugin_args, suite_args, valid_spec


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
                                                                "suite")
    p.add_argument("--capture", metavar="FILE", default=None,
                   help="record the USB traffic of every test into FILE (pcapng for Wireshark; a comment "
                        "names each test on its first packet)")
    p.set_defaults(func=run)


def pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line `rig test` runs."""
    argv = [*suite_args(args.suite), *plugin_args(), "--rig-open-early"]
    for spec in args.rig or []:
        argv += ["--rig", valid_spec(spec)]
    if args.junit:
        argv += ["--junitxml", args.junit]
    if args.rig_strict:
        argv.append("--rig-strict")
    if args.capture:
        argv += ["--rig-capture-file", args.capture]
    return argv + list(getattr(args, "extra", []))


def run(args: argparse.Namespace) -> int:
    """pytest.main with the plugin; its exit code is ours."""
    return int(pytest.main(pytest_args(args)))
