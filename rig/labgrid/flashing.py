"""Flashing a place's board through its BOOTSEL drive, run on the host the board is attached to (in
the client's process when that host is this one, else as `python -m rig.labgrid.flashing` there over
ssh). The sequence is rig.tools.flash's Flasher (check the UF2, find the drive or do the 1200-baud
touch, copy, wait for the board to come back), with the drive the RigBootselDrive resource names.

An emulated board's drive (RigBootselDrive `emulated: true`) is a directory: entering BOOTSEL puts
the INFO_UF2.TXT the ROM's drive carries there, and "the ROM" here takes the UF2 copied onto it as the
board's new flash, the file its RigBoard spec `emulator:IMAGE` boots. The board has come back when
the emulator, booting that file, finds a USB device on it. What is not modelled: the ROM's own USB
mass-storage device (the copy goes to the directory, not through USB) and its block-by-block write.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from rig.errors import RigError, TargetError
from rig.targets.emulator import parse_emulator_arg
from rig.targets.factory import make_target
from rig.targets.registry import TargetSpec
from rig.tools.flash import INFO_FILE, Flasher, FlashError, Uf2Image, check_uf2

INFO_TEXT = "UF2 Bootloader v1.0\nModel: Raspberry Pi RP2\nBoard-ID: RPI-RP2\n"
"""INFO_UF2.TXT as the RP2040 ROM's drive shows it (RP2040 datasheet, 2.8.4 USB mass storage)."""
DEFAULT_TIMEOUT_S = 60.0


class EmulatedBootsel:
    """An emulated board's BOOTSEL drive (`drive`, a directory) and flash (the IMAGE of `spec`)."""

    def __init__(self, drive: Path, spec: str) -> None:
        parsed = TargetSpec.parse(spec)
        image = parse_emulator_arg(parsed.arg).image if parsed.kind == "emulator" else None
        if image is None or image.suffix.lower() != ".uf2":
            raise FlashError(f"an emulated BOOTSEL drive needs a RigBoard spec emulator:IMAGE.uf2,... (the "
                             f"file the emulated board boots, which flashing replaces); {spec!r} names none")
        self.drive = drive
        self.spec = spec
        self.flash_file = image
        self.found = ""
        """The VID:PID the emulator found on the flashed image (set once it booted)."""

    def enter(self) -> None:
        """The board is in BOOTSEL: its drive (an empty directory with INFO_UF2.TXT) is there."""
        self.drive.mkdir(parents=True, exist_ok=True)
        for old in self.drive.glob("*.uf2"):
            old.unlink()
        (self.drive / INFO_FILE).write_text(INFO_TEXT)

    def take_image(self) -> None:
        """The ROM takes the UF2 copied onto the drive as the new flash (written whole, then swapped in
        by rename, so a session opening the place meanwhile boots the old image or the new one)."""
        copied = sorted(self.drive.glob("*.uf2"), key=lambda p: p.stat().st_mtime)
        if not copied:
            return
        check_uf2(copied[-1])
        partial = self.flash_file.with_name(self.flash_file.name + ".partial")
        shutil.copyfile(copied[-1], partial)
        os.replace(partial, self.flash_file)
        for done in copied:
            done.unlink()

    def booted(self) -> bool:
        """True once the emulator, booting the flash, finds a USB device on it; a FlashError naming why
        when it cannot (an image that does not boot fails every time alike: no point retrying)."""
        self.take_image()
        target = make_target(self.spec)
        try:
            target.open()
            device = target.usb_device()
            self.found = f"{device.idVendor:04x}:{device.idProduct:04x}"
        except TargetError as exc:
            raise FlashError(f"the emulated board did not come back on the flashed image: {exc}") from None
        finally:
            target.close()
        return True


def target_console(spec: str) -> str | None:
    """The console port of the board `spec` names (found by opening its target), or None when it
    cannot be opened: a lab host may have several boards, so never just the first one attached."""
    target = make_target(spec)
    try:
        target.open()
        return target.console_port()
    except TargetError:
        return None
    finally:
        target.close()


def flash_here(image: Path, drive: Path, spec: str, *, emulated: bool = False, console_port: str = "",
               say: Callable[[str], None] = print, timeout_s: float = DEFAULT_TIMEOUT_S) -> Uf2Image:
    """Flash `image` onto the board of `spec` (attached to this host) through its BOOTSEL drive at
    `drive`; for a real board its console port (`console_port`, else its target's) is touched at
    1200 baud when the drive is not there yet."""
    if emulated:
        bootsel = EmulatedBootsel(drive, spec)
        bootsel.enter()
        say(f"emulated board {spec}: in BOOTSEL, its drive is {drive}")
        flasher = Flasher(search_paths=[drive], is_drive=lambda p: p == drive, board_console=lambda: None,
                          board_present=bootsel.booted, say=say, drive_timeout_s=timeout_s,
                          enumerate_timeout_s=timeout_s, device_name=f"the emulated board ({spec})")
        done = flasher.flash(image)
        say(f"the emulated board boots {bootsel.flash_file}: USB device {bootsel.found}")
        return done
    flasher = Flasher(search_paths=[drive], board_console=lambda: console_port or target_console(spec),
                      say=say, drive_timeout_s=timeout_s, enumerate_timeout_s=timeout_s)
    return flasher.flash(image)


def main(argv: list[str] | None = None) -> int:
    """`python -m rig.labgrid.flashing IMAGE --drive PATH --spec SPEC [--emulated] [--console PORT]`:
    what a RigFlashDriver runs on the board's host; exit status 1 with the error's one line."""
    parser = argparse.ArgumentParser(prog="python -m rig.labgrid.flashing")
    parser.add_argument("image", type=Path)
    parser.add_argument("--drive", type=Path, required=True)
    parser.add_argument("--spec", required=True)
    parser.add_argument("--emulated", action="store_true")
    parser.add_argument("--console", default="")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    args = parser.parse_args(argv)
    try:
        flash_here(args.image, args.drive, args.spec, emulated=args.emulated, console_port=args.console,
                   say=lambda line: print(line, flush=True), timeout_s=args.timeout)
    except RigError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
