"""Pads a raw boot2 binary to 252 bytes and appends its CRC-32 (the MPEG-2 variant the RP2040
boot ROM checks: polynomial 0x04C11DB7, initial value 0xFFFFFFFF, no reflection, no final XOR),
giving the 256 bytes that start a flash image. Usage: boot2_pad.py in.bin out.bin
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

BOOT2_SIZE = 256
BOOT2_PAYLOAD = 252


def crc32_mpeg2(data: bytes) -> int:
    """CRC-32/MPEG-2 of `data`, bit by bit (256 bytes once per build: speed does not matter)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else (crc << 1)
            crc &= 0xFFFFFFFF
    return crc


def pad(raw: bytes) -> bytes:
    """The 256-byte boot2 block for `raw` code; ValueError when the code is too long."""
    if len(raw) > BOOT2_PAYLOAD:
        raise ValueError(f"boot2 code is {len(raw)} bytes; at most {BOOT2_PAYLOAD} fit before the CRC")
    body = raw + bytes(BOOT2_PAYLOAD - len(raw))
    return body + struct.pack("<I", crc32_mpeg2(body))


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: boot2_pad.py in.bin out.bin", file=sys.stderr)
        return 2
    Path(argv[2]).write_bytes(pad(Path(argv[1]).read_bytes()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
