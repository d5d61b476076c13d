"""UF2 images for the RP2040's USB bootloader, written from the UF2 specification.

Each 512-byte block carries 256 bytes of the flash image: magic numbers, flags (family ID present),
target address from 0x10000000, block number and total, the RP2040 family ID, then the final magic.
`bin_to_uf2` packs a flash image (`python -m rig.tools.uf2 in.bin out.uf2`); `uf2_to_bin` unpacks one
(the emulator link runs any RP2040 firmware given as a .uf2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rig.errors import RigError

MAGIC_START0 = 0x0A324655
MAGIC_START1 = 0x9E5D5157
MAGIC_END = 0x0AB16F30
FLAG_FAMILY_ID_PRESENT = 0x00002000
RP2040_FAMILY_ID = 0xE48BFF56
FLASH_BASE = 0x10000000
FLASH_SIZE = 16 * 1024 * 1024
"""The RP2040's flash window (XIP, 0x10000000-0x10FFFFFF): no image can be larger."""
BLOCK_SIZE = 512
PAYLOAD_SIZE = 256
_HEADER = struct.Struct("<8I")
_DATA_AREA = 476


class Uf2Error(RigError, ValueError):
    """A UF2 image (or the input for one) is malformed; the message says where and how."""


class FlashOverflow(Uf2Error):
    """A block writes outside the flash (below its base or beyond its size)."""


@dataclass(frozen=True)
class Uf2Block:
    """One parsed block: where its payload goes and its place in the file."""

    flags: int
    target_addr: int
    payload: bytes
    block_no: int
    num_blocks: int
    family_id: int


def bin_to_uf2(image: bytes, base: int = FLASH_BASE, family_id: int = RP2040_FAMILY_ID) -> bytes:
    """The UF2 file for a flash image that starts at `base`: one block per 256 bytes (last padded)."""
    if not image:
        raise Uf2Error("flash image is empty")
    count = (len(image) + PAYLOAD_SIZE - 1) // PAYLOAD_SIZE
    out = bytearray()
    for n in range(count):
        chunk = image[n * PAYLOAD_SIZE:(n + 1) * PAYLOAD_SIZE].ljust(PAYLOAD_SIZE, b"\0")
        out += _HEADER.pack(MAGIC_START0, MAGIC_START1, FLAG_FAMILY_ID_PRESENT, base + n * PAYLOAD_SIZE,
                            PAYLOAD_SIZE, n, count, family_id)
        out += chunk.ljust(_DATA_AREA, b"\0")
        out += struct.pack("<I", MAGIC_END)
    return bytes(out)


def read_uf2(data: bytes) -> list[Uf2Block]:
    """Parse and check every block: magics, sizes, numbering and total; Uf2Error names the block."""
    if not data or len(data) % BLOCK_SIZE:
        raise Uf2Error(f"UF2 size {len(data)} is not a positive multiple of {BLOCK_SIZE}")
    blocks: list[Uf2Block] = []
    for index in range(len(data) // BLOCK_SIZE):
        block = data[index * BLOCK_SIZE:(index + 1) * BLOCK_SIZE]
        m0, m1, flags, addr, size, block_no, num_blocks, family = _HEADER.unpack_from(block)
        (m_end,) = struct.unpack_from("<I", block, BLOCK_SIZE - 4)
        if (m0, m1, m_end) != (MAGIC_START0, MAGIC_START1, MAGIC_END):
            raise Uf2Error(f"block {index}: bad magic numbers 0x{m0:08X} 0x{m1:08X} 0x{m_end:08X}")
        if size > _DATA_AREA:
            raise Uf2Error(f"block {index}: payload size {size} exceeds {_DATA_AREA}")
        if block_no != index:
            raise Uf2Error(f"block {index}: numbered {block_no}")
        blocks.append(Uf2Block(flags, addr, bytes(block[32:32 + size]), block_no, num_blocks, family))
    total = len(blocks)
    wrong = [b.block_no for b in blocks if b.num_blocks != total]
    if wrong:
        raise Uf2Error(f"block {wrong[0]}: says {blocks[wrong[0]].num_blocks} blocks, file has {total}")
    return blocks


def uf2_to_bin(data: bytes, base: int = FLASH_BASE, flash_size: int = FLASH_SIZE) -> bytes:
    """The contiguous flash image a UF2 file writes from `base` (gaps filled with 0xFF). Every block
    must lie inside the flash (FlashOverflow otherwise), which bounds the image to `flash_size`."""
    blocks = read_uf2(data)
    for b in blocks:
        if b.target_addr < base:
            raise FlashOverflow(f"block {b.block_no}: address 0x{b.target_addr:08X} below 0x{base:08X}")
        if b.target_addr + len(b.payload) > base + flash_size:
            raise FlashOverflow(f"block {b.block_no}: {len(b.payload)} bytes at 0x{b.target_addr:08X} reach "
                                f"beyond the {flash_size // (1024 * 1024)} MiB flash "
                                f"(0x{base:08X}-0x{base + flash_size - 1:08X})")
    end = max(b.target_addr + len(b.payload) for b in blocks)
    image = bytearray(b"\xff" * (end - base))
    for b in blocks:
        image[b.target_addr - base:b.target_addr - base + len(b.payload)] = b.payload
    return bytes(image)
