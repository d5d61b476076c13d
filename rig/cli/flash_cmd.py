"""`rig flash FILE.uf2`: BOOTSEL drive (or 1200-baud touch), copy, check the board comes back."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from rig.cli._out import stdout
from rig.tools import flash
from rig.tools.flash import Flasher, default_search_paths


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("flash", help="flash a UF2 image onto the board",
                       description="Find the RP2040 BOOTSEL drive (by its INFO_UF2.TXT) or reboot an "
                                   "attached board into it with the 1200-baud touch, copy the UF2, and "
                                   "check that the board re-enumerates.")
    p.add_argument("image", metavar="FILE.uf2", type=Path)
    p.add_argument("--drive-search", metavar="DIR", action="append", type=Path, default=None,
                   help="look for the BOOTSEL drive in DIR and its subdirectories (repeatable; default: "
                        + ", ".join(str(x) for x in default_search_paths()) + ")")
    p.add_argument("--rig", metavar="labgrid:PLACE", default=None,
                   help="flash the board of a labgrid place (through its RigBootselDrive, on its host)")
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for the drive and for "
                                                               "re-enumeration (default 15)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the Flasher with a progress bar on the copy (or a labgrid place's RigFlashDriver)."""
    out = stdout()
    if args.rig is not None:
        if not args.rig.startswith("labgrid:"):
            raise flash.FlashError(f"rig flash --rig {args.rig}: only a labgrid:PLACE is flashed by --rig; "
                                   f"for a board attached here, give no --rig")
        from rig.labgrid.remote import flash_place

        flash_place(args.rig, args.image, say=out.print)
        return 0
    with Progress(TextColumn("copying"), BarColumn(), DownloadColumn(), console=out, transient=True,
                  disable=not out.is_terminal) as bar:
        task = bar.add_task("copy", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        flasher = Flasher(search_paths=args.drive_search or default_search_paths(), say=bar.console.print,
                          board_present=flash.board_enumerated, board_console=flash.attached_board_console,
                          progress=progress, drive_timeout_s=args.timeout, enumerate_timeout_s=args.timeout)
        flasher.flash(args.image)
    return 0
