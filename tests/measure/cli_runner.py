"""Runs the measure CLI's subcommands in-process, as `rig` would, for the CLI tests."""

from __future__ import annotations

import argparse

from rig.cli import history_cmd, latency_cmd, throughput_cmd


def run_cli(*argv: str) -> int:
    """Parse `argv` with the measure subcommands registered and run the chosen one; its exit status."""
    parser = argparse.ArgumentParser(prog="rig")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (latency_cmd, throughput_cmd, history_cmd):
        command.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.func(args))
