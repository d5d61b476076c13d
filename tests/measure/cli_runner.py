"""Runs the measure CLI's subcommands in-process, as `rig` would, for the CLI tests."""

from __future__ import annotations

import argparse

from rig.measure import cli


def run_cli(*argv: str) -> int:
    """Parse `argv` with the measure subcommands registered and run the chosen one; its exit status."""
    parser = argparse.ArgumentParser(prog="rig")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.register(sub)
    args = parser.parse_args(list(argv))
    return int(args.func(args))
