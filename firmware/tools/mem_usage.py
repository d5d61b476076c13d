"""Flash and RAM use of the firmware, read from the ELF's section headers and the flash image.

Flash used is the flash image's size (boot2, vectors, code, read-only data and .data's load copy:
every byte written to the chip). RAM used is every allocated section whose address lies in the
RP2040's 264 KiB of SRAM (0x20000000..0x20042000: .data, .bss and the .stack reserved in
SCRATCH_Y), so nothing that occupies SRAM is left out. Usage: mem_usage.py firmware.elf firmware.bin
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

FLASH_BYTES = 2 * 1024 * 1024
"""The Pico's W25Q16 flash: 2 MiB."""
SRAM_START = 0x20000000
SRAM_BYTES = 264 * 1024
"""Striped main SRAM (256 KiB) plus SCRATCH_X and SCRATCH_Y (4 KiB each)."""
SHF_ALLOC = 0x2


def sram_sections(elf: bytes) -> list[tuple[str, int]]:
    """(name, size) of every allocated section of a 32-bit little-endian ELF that lies in SRAM."""
    if elf[:4] != b"\x7fELF" or elf[4] != 1 or elf[5] != 1:
        raise ValueError("not a 32-bit little-endian ELF file")
    shoff, = struct.unpack_from("<I", elf, 0x20)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x2E)
    headers = [struct.unpack_from("<IIIIIIIIII", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    result = []
    for name_off, _type, flags, addr, _off, size, *_ in headers:
        if flags & SHF_ALLOC and size and SRAM_START <= addr < SRAM_START + SRAM_BYTES:
            name = elf[strtab + name_off:elf.index(b"\0", strtab + name_off)].decode()
            result.append((name, size))
    return result


def report(elf: bytes, image_size: int) -> str:
    """The line `make` prints: flash and RAM used against the chip's totals, RAM by section."""
    sections = sram_sections(elf)
    ram = sum(size for _, size in sections)
    parts = " + ".join(f"{name} {size}" for name, size in sections)
    flash = f"{100 * image_size / FLASH_BYTES:.1f}%"
    return (f"flash used: {image_size} bytes of {FLASH_BYTES // 1024} KiB ({flash}), "
            f"RAM used: {ram} bytes of {SRAM_BYTES // 1024} KiB ({100 * ram / SRAM_BYTES:.1f}%: {parts})")


def main(argv: list[str]) -> int:
    """Print the report for `argv[1]` (ELF) and `argv[2]` (flash image)."""
    if len(argv) != 3:
        print("usage: mem_usage.py firmware.elf firmware.bin", file=sys.stderr)
        return 2
    print(report(Path(argv[1]).read_bytes(), Path(argv[2]).stat().st_size))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
