"""Flash images of any RP2040 firmware for the emulator: a raw `.bin` (from 0x10000000), a `.uf2`
(UF2 specification) or an `.elf` (its loadable segments' load addresses, ELF 32-bit ARM), read into
the bytes the flash holds from 0x10000000 (gaps 0xFF). Bad input is a FlashImageError naming the file."""

from __future__ import annotations

import struct
from pathlib import Path

from rig.errors import RigError
from rig.links.uf2 import FLASH_BASE, FLASH_SIZE, Uf2Error, uf2_to_bin

ELF_MAGIC = b"\x7fELF"
EM_ARM = 40
PT_LOAD = 1
SUFFIXES = (".bin", ".uf2", ".elf")


class FlashImageError(RigError, ValueError):
    """A firmware image cannot be read as an RP2040 flash image (the message says which and why)."""


def _in_flash(address: int, size: int) -> bool:
    return address >= FLASH_BASE and address + size <= FLASH_BASE + FLASH_SIZE


def elf_to_bin(data: bytes, name: str = "image") -> bytes:
    """The flash bytes an ELF's PT_LOAD segments put at their physical (load) addresses. Segments with
    no file bytes (.bss) are skipped; one with bytes outside the flash is an error (a RAM-only build
    cannot be flashed)."""
    if len(data) < 52 or data[:4] != ELF_MAGIC:
        raise FlashImageError(f"{name}: not an ELF file")
    if data[4] != 1 or data[5] != 1:
        raise FlashImageError(f"{name}: not a 32-bit little-endian ELF (the RP2040's Cortex-M0+)")
    machine, = struct.unpack_from("<H", data, 18)
    if machine != EM_ARM:
        raise FlashImageError(f"{name}: ELF machine {machine}, not ARM ({EM_ARM})")
    phoff, = struct.unpack_from("<I", data, 28)
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    if phentsize < 32 or phoff + phnum * phentsize > len(data):
        raise FlashImageError(f"{name}: program headers lie outside the file")
    pieces: list[tuple[int, bytes]] = []
    for i in range(phnum):
        p_type, offset, _vaddr, paddr, filesz = struct.unpack_from("<5I", data, phoff + i * phentsize)
        if p_type != PT_LOAD or filesz == 0:
            continue
        if offset + filesz > len(data):
            raise FlashImageError(f"{name}: segment {i} lies outside the file")
        if not _in_flash(paddr, filesz):
            raise FlashImageError(f"{name}: segment {i} loads {filesz} bytes at 0x{paddr:08X}, outside the "
                                  f"flash (0x{FLASH_BASE:08X}-0x{FLASH_BASE + FLASH_SIZE - 1:08X}): "
                                  "not a flash image")
        pieces.append((paddr - FLASH_BASE, data[offset:offset + filesz]))
    if not pieces:
        raise FlashImageError(f"{name}: no loadable segment with data")
    image = bytearray(b"\xff" * max(start + len(chunk) for start, chunk in pieces))
    for start, chunk in pieces:
        image[start:start + len(chunk)] = chunk
    return bytes(image)


def read_flash_image(path: Path) -> bytes:
    """The flash contents `path` (.bin, .uf2 or .elf) gives, from 0x10000000."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FlashImageError(f"{path}: a firmware image is a .bin, .uf2 or .elf file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise FlashImageError(f"{path}: cannot read it: {exc.strerror or exc}") from exc
    if suffix == ".uf2":
        try:
            return uf2_to_bin(data)
        except Uf2Error as exc:
            raise FlashImageError(f"{path}: {exc}") from exc
    if suffix == ".elf":
        return elf_to_bin(data, str(path))
    if not data:
        raise FlashImageError(f"{path}: the image is empty")
    if len(data) > FLASH_SIZE:
        raise FlashImageError(f"{path}: {len(data)} bytes do not fit the "
                              f"{FLASH_SIZE // (1024 * 1024)} MiB flash")
    return data
