"""`rig console`: talk to the target's serial console, interactively or one `--command` at a time."""

from __future__ import annotations

import argparse

from rig.client.console import Console
from rig.targets.factory import make_target
from rig.targets.registry import Feature


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("console", help="open the target's serial console",
                       description="An interactive console on the target's serial port (type `help`; "
                                   "`exit` or Ctrl-D leaves), or one command with --command.")
    p.add_argument("--rig", metavar="SPEC", default=None, help="target (default: board if attached, else "
                                                                "loopback)")
    p.add_argument("--port", default=None, help="open this serial port or pyserial URL instead of a target's")
    p.add_argument("--command", "-c", metavar="CMD", default=None, help="send CMD, print the reply, exit")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply (default 2)")
    p.set_defaults(func=run)


def refused(reply: str) -> bool:
    """True when the board answered a command with its `error: ...` line (an unknown command, bad
    arguments): `rig console -c` then exits 1."""
    return any(line.startswith("error:") for line in reply.splitlines())


def _session(console: Console, args: argparse.Namespace) -> int:
    if args.command is not None:
        reply = console.command(args.command, args.timeout)
        print(reply)
        return 1 if refused(reply) else 0
    banner = console.sync(args.timeout)
    print(f"connected to {console.name} ({banner}); `help` lists commands, `exit` or Ctrl-D leaves")
    while True:
        try:
            line = input("> ")
        except EOFError:
            print()
            return 0
        if line.strip() in {"exit", "quit"}:
            return 0
        if line.strip():
            print(console.command(line.strip(), args.timeout))


def run(args: argparse.Namespace) -> int:
    """Open the port (through the target unless --port), then one command or a prompt loop."""
    if args.port:
        with Console.open(args.port) as console:
            return _session(console, args)
    from rig.targets.discovery import default_target

    spec = args.rig or default_target()
    if spec.startswith("labgrid:") and args.command is not None:  # on the board's host, over ssh if remote
        from rig.labgrid.remote import console_on_place

        reply = console_on_place(spec, args.command, args.timeout)
        print(reply)
        return 1 if refused(reply) else 0
    target = make_target(spec)  # targets open their MIDI clients quietly (rig.os_midi.quiet)
    target.open()
    try:
        target.require(Feature.CONSOLE)
        with Console.open(target.console_port()) as console:
            return _session(console, args)
    finally:
        target.close()
