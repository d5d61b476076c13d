"""`python -m rig.tools.uf2 in.bin out.uf2`: pack a flash image as UF2 (the format lives in
rig.links.uf2, which the emulator link also reads images with; its names are re-exported here)."""

from __future__ import annotations

import sys
from pathlib import Path

from rig.links.uf2 import (
    BLOCK_SIZE,
    FLAG_FAMILY_ID_PRESENT,
    FLASH_BASE,
    FLASH_SIZE,
    MAGIC_END,
    MAGIC_START0,
    MAGIC_START1,
    PAYLOAD_SIZE,
    RP2040_FAMILY_ID,
    FlashOverflow,
    Uf2Block,
    Uf2Error,
    bin_to_uf2,
    read_uf2,
    uf2_to_bin,
)

__all__ = ["BLOCK_SIZE", "FLAG_FAMILY_ID_PRESENT", "FLASH_BASE", "FLASH_SIZE", "MAGIC_END", "MAGIC_START0",
           "MAGIC_START1", "PAYLOAD_SIZE", "RP2040_FAMILY_ID", "FlashOverflow", "Uf2Block", "Uf2Error",
           "bin_to_uf2", "main", "read_uf2", "uf2_to_bin"]


def main(argv: list[str]) -> int:
    """Command line: in.bin out.uf2."""
    if len(argv) != 2:
        print("usage: python -m rig.tools.uf2 in.bin out.uf2", file=sys.stderr)
        return 2
    image = Path(argv[0]).read_bytes()
    Path(argv[1]).write_bytes(bin_to_uf2(image))
    print(f"{argv[1]}: {len(image)} bytes in {(len(image) + PAYLOAD_SIZE - 1) // PAYLOAD_SIZE} UF2 blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
