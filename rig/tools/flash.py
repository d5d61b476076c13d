"""Flash a UF2 image onto an RP2040: find the BOOTSEL drive (or get there by the 1200-baud touch),
copy the image, and check that the board comes back.

Everything that touches the machine — where drives are mounted, how a board is found, the touch,
the clock — is injectable, so the whole sequence is testable against a temporary directory.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import stat
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rig import contract as c
from rig.errors import RigError

UF2_BLOCK = 512
UF2_MAGIC_START0 = 0x0A324655
UF2_MAGIC_START1 = 0x9E5D5157
UF2_MAGIC_END = 0x0AB16F30
UF2_FLAG_FAMILY_ID = 0x00002000
UF2_FLAG_NOT_MAIN_FLASH = 0x00000001
RP2040_FAMILY_ID = 0xE48BFF56
INFO_FILE = "INFO_UF2.TXT"
BOOTSEL_BOARD_ID = "RPI-RP2"
"""`Board-ID: RPI-RP2` is in the RP2040 ROM's INFO_UF2.TXT."""


class FlashError(RigError, RuntimeError):
    """A flashing step failed; the message says which step and what to do."""


class BadUf2(FlashError, ValueError):
    """The image is not a UF2 file for the RP2040; the message names the block and field."""


@dataclass(frozen=True)
class Uf2Image:
    """What `check_uf2` learned about an image."""

    path: Path
    blocks: int
    payload_bytes: int
    family_id: int | None
    first_address: int


def check_uf2(path: Path) -> Uf2Image:
    """Validate every block of a UF2 file (magics, numbering, RP2040 family when present)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlashError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data or len(data) % UF2_BLOCK:
        raise BadUf2(f"{path}: {len(data)} bytes is not a whole number of {UF2_BLOCK}-byte UF2 blocks")
    total = len(data) // UF2_BLOCK
    family: int | None = None
    payload = 0
    first = 0
    for i in range(total):
        block = data[i * UF2_BLOCK:(i + 1) * UF2_BLOCK]
        m0, m1, flags, addr, size, number, count, fam = struct.unpack_from("<8I", block)
        (end,) = struct.unpack_from("<I", block, UF2_BLOCK - 4)
        if (m0, m1, end) != (UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_MAGIC_END):
            raise BadUf2(f"{path}: block {i}: bad UF2 magic")
        if number != i or count != total:
            raise BadUf2(f"{path}: block {i}: says it is block {number} of {count}, file has {total}")
        if size > 476:
            raise BadUf2(f"{path}: block {i}: payload size {size} exceeds 476")
        if flags & UF2_FLAG_FAMILY_ID:
            if fam != RP2040_FAMILY_ID:
                raise BadUf2(f"{path}: block {i}: family 0x{fam:08x} is not RP2040 "
                             f"(0x{RP2040_FAMILY_ID:08x})")
            family = fam
        if i == 0:
            first = addr
        if not flags & UF2_FLAG_NOT_MAIN_FLASH:
            payload += size
    return Uf2Image(path, total, payload, family, first)


def default_search_paths() -> list[Path]:
    """Where desktops and people mount removable drives on Linux and macOS."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    paths = [Path("/media") / user, Path("/run/media") / user] if user else []
    return [*paths, Path("/media"), Path("/mnt"), Path("/Volumes")]


def is_bootsel_drive(path: Path) -> bool:
    """True when `path` holds an INFO_UF2.TXT naming the RP2040 bootloader."""
    try:
        text = (path / INFO_FILE).read_text(errors="replace")
    except OSError:
        return False
    return BOOTSEL_BOARD_ID in text or "RP2" in text


def trusted_drive(path: Path, *, is_mount: Callable[[str], bool] = os.path.ismount,
                  uid: int | None = None) -> bool:
    """True when `path` can be the BOOTSEL drive rig flash writes to: not a symlink, a mount point,
    and owned by this user (`uid`, default os.getuid()) as a desktop's auto-mount is. Any directory
    with an INFO_UF2.TXT under /media, /mnt or /Volumes would otherwise receive the image."""
    try:
        info = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        return False
    owner = os.getuid() if uid is None else uid
    return info.st_uid == owner and is_mount(str(path))


def find_bootsel_drives(search_paths: Sequence[Path],
                        is_drive: Callable[[Path], bool] | None = None) -> list[Path]:
    """BOOTSEL drives that are a search path or one of its direct subdirectories and pass `is_drive`
    (default trusted_drive: a mount point of this user's, not a symlink)."""
    accept = is_drive or (lambda p: trusted_drive(p))
    found: list[Path] = []
    for base in search_paths:
        candidates = [base]
        with contextlib.suppress(OSError):
            candidates += sorted(p for p in base.iterdir() if p.is_dir())
        for candidate in candidates:
            if candidate not in found and accept(candidate) and is_bootsel_drive(candidate):
                found.append(candidate)
    return found


def touch_1200(port: str) -> None:
    """Open and close `port` at 1200 baud: the CDC line coding the firmware takes as 'reboot to BOOTSEL'."""
    import serial

    try:
        with serial.Serial(port, baudrate=c.CONSOLE_BAUD_BOOTSEL):
            pass
    except (serial.SerialException, OSError) as exc:
        raise FlashError(f"1200-baud touch on {port} failed: {exc}") from None


def attached_board_console() -> str | None:
    """The console port of the first attached rig board, from pyserial's port list."""
    from serial.tools import list_ports

    for port in list_ports.comports():
        if port.vid == c.VID and port.pid == c.PID:
            return str(port.device)
    return None


def board_enumerated() -> bool:
    """True when a rig board (the application firmware, not BOOTSEL) is on the bus."""
    import libusb_package

    return libusb_package.find(idVendor=c.VID, idProduct=c.PID) is not None


@dataclass
class Flasher:
    """The flashing sequence with every machine contact injectable."""

    search_paths: Sequence[Path] = field(default_factory=default_search_paths)
    is_drive: Callable[[Path], bool] = field(default=lambda p: trusted_drive(p))
    """Which directories may be the drive (trusted_drive: a mount point of this user's)."""
    board_console: Callable[[], str | None] = attached_board_console
    board_present: Callable[[], bool] = board_enumerated
    touch: Callable[[str], None] = touch_1200
    say: Callable[[str], None] = print
    progress: Callable[[int, int], None] | None = None
    """Called with (bytes copied, total) while copying."""
    drive_timeout_s: float = 15.0
    enumerate_timeout_s: float = 15.0
    device_name: str = f"the board ({c.VID:04x}:{c.PID:04x})"
    """What `board_present` looks for, as the messages name it."""
    poll_s: float = 0.2
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def _wait(self, what: Callable[[], object], timeout_s: float) -> object:
        deadline = self.clock() + timeout_s
        while True:
            result = what()
            if result:
                return result
            if self.clock() >= deadline:
                return result
            self.sleep(self.poll_s)

    def find_drive(self) -> Path:
        """An existing BOOTSEL drive, or the one the board mounts after the 1200-baud touch."""
        where = ", ".join(str(p) for p in self.search_paths) or "(no search paths)"
        drives = find_bootsel_drives(self.search_paths, self.is_drive)
        if drives:
            if len(drives) > 1:
                self.say(f"several BOOTSEL drives found ({', '.join(map(str, drives))}); using {drives[0]}")
            self.say(f"BOOTSEL drive: {drives[0]}")
            return drives[0]
        port = self.board_console()
        if port is None:
            raise FlashError(f"no RP2040 BOOTSEL drive (a drive with {INFO_FILE}) under {where}, and no "
                             f"board attached to reboot into BOOTSEL: hold BOOTSEL while plugging the board "
                             f"in, and mount the drive if your desktop does not")
        self.say(f"no BOOTSEL drive yet; 1200-baud touch on {port} to reboot the board into BOOTSEL")
        self.touch(port)
        self.say(f"waiting up to {self.drive_timeout_s:g} s for the BOOTSEL drive under {where}")
        found = self._wait(lambda: find_bootsel_drives(self.search_paths, self.is_drive),
                           self.drive_timeout_s)
        if not found:
            raise FlashError(f"the board did not show up as a BOOTSEL drive under {where} within "
                             f"{self.drive_timeout_s:g} s (is the drive auto-mounted? mount it and retry)")
        assert isinstance(found, list)
        self.say(f"BOOTSEL drive: {found[0]}")
        return Path(found[0])

    def copy(self, image: Uf2Image, drive: Path) -> Path:
        """Copy the image onto the drive in 4 KB chunks (the drive reboots the chip after the last)."""
        dest = drive / image.path.name
        total = image.path.stat().st_size
        done = 0
        try:
            # O_NOFOLLOW: a symlink planted on the drive must not redirect the write elsewhere.
            fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
            with image.path.open("rb") as src, os.fdopen(fd, "wb") as out:
                while chunk := src.read(4096):
                    out.write(chunk)
                    done += len(chunk)
                    if self.progress:
                        self.progress(done, total)
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            raise FlashError(f"copying {image.path} to {dest} failed: {exc.strerror or exc}") from None
        return dest

    def flash(self, path: Path) -> Uf2Image:
        """The whole sequence; each step is announced through `say`, each failure is a FlashError."""
        image = check_uf2(path)
        family = "RP2040" if image.family_id == RP2040_FAMILY_ID else "no family ID"
        self.say(f"{path}: {image.blocks} UF2 blocks, {image.payload_bytes} bytes for flash "
                 f"at 0x{image.first_address:08x} ({family})")
        drive = self.find_drive()
        dest = self.copy(image, drive)
        self.say(f"copied to {dest}; waiting up to {self.enumerate_timeout_s:g} s for {self.device_name} "
                 f"to re-enumerate")
        if not self._wait(self.board_present, self.enumerate_timeout_s):
            raise FlashError(f"the image was copied but {self.device_name} did not enumerate within "
                             f"{self.enumerate_timeout_s:g} s: check the image is rig firmware "
                             f"(`make firmware`) and the USB cable")
        self.say("board re-enumerated: flashing done")
        return image


def make_uf2(binary: bytes, base_address: int = 0x10000000, family_id: int = RP2040_FAMILY_ID) -> bytes:
    """Pack a flash binary as UF2 (256 payload bytes per block, as the RP2040 ROM expects)."""
    chunks = [binary[i:i + 256] for i in range(0, len(binary), 256)] or [b""]
    out = bytearray()
    for number, chunk in enumerate(chunks):
        header = struct.pack("<8I", UF2_MAGIC_START0, UF2_MAGIC_START1, UF2_FLAG_FAMILY_ID,
                             base_address + 256 * number, 256, number, len(chunks), family_id)
        data = chunk.ljust(476, b"\0")
        out += header + data + struct.pack("<I", UF2_MAGIC_END)
    return bytes(out)
