"""Runs the measure CLI's subcommands in-process, as `rig` would, for the CLI tests."""

from __future__ import annotations

import argparse

from rig.cli import history_cmd, latency_cmd, throughput_cmd

LOSS_TIMEOUT_S = 30.0


def run_cli(*argv: str) -> int:
    """Parse `argv` with the measure subcommands registered and run the chosen one; its exit status.
    A latency run without --timeout gets LOSS_TIMEOUT_S: these tests count every answer exactly, and
    on a loaded 2-core machine the loopback's threads can wait past the 1 s default for a CPU (a Ctrl-C
    test here failed once under a load of 27; its message was not kept, a late answer is suspected)."""
    if argv and argv[0] == "latency" and "--timeout" not in argv:
        argv = (*argv, "--timeout", str(LOSS_TIMEOUT_S))
    parser = argparse.ArgumentParser(prog="rig")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (latency_cmd, throughput_cmd, history_cmd):
        command.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.func(args))
