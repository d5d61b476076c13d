"""The firmware builds from clean with the arm toolchain, and its UF2 is what a real Pico's ROM
accepts: UF2 framing for the RP2040, boot2 CRC, vector table after boot2."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

from rig import contract as c
from rig.links.emulator import EmulatorLink
from rig.tools import uf2

from .conftest import need_bridge

BOOT2_CRC_POLY = 0x04C11DB7


def crc32_mpeg2(data: bytes) -> int:
    """Independent CRC-32/MPEG-2 (the boot ROM's check): MSB first, init all ones, no final XOR."""
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = ((crc >> 31) & 1) ^ ((byte >> bit) & 1)
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (BOOT2_CRC_POLY if top else 0)
    return crc


def test_build_outputs_exist_and_reports_sizes(firmware_build: Path) -> None:
    for name in ("rig_firmware.elf", "rig_firmware.bin", "rig_firmware.uf2"):
        assert (firmware_build / name).stat().st_size > 0, name
    log = (firmware_build / "make.log").read_text()
    assert "flash used:" in log and "RAM used:" in log


def test_ram_figure_counts_every_section_in_sram(firmware_build: Path) -> None:
    """RAM used is .data + .bss + .stack (every section `size -A` places in SRAM), flash used is the
    image size, both against the chip's totals."""
    size_tool = shutil.which("arm-none-eabi-size")
    assert size_tool is not None
    listing = subprocess.run([size_tool, "-A", str(firmware_build / "rig_firmware.elf")], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    in_sram = {name: int(size) for name, size, addr in re.findall(r"^(\.\S+)\s+(\d+)\s+(\d+)$", listing, re.M)
               if 0x20000000 <= int(addr) < 0x20042000 and int(size)}
    assert {".data", ".bss", ".stack"} <= set(in_sram) and in_sram[".stack"] == 4096
    log = (firmware_build / "make.log").read_text()
    found = re.search(r"flash used: (\d+) bytes of 2048 KiB .*RAM used: (\d+) bytes of 264 KiB", log)
    assert found is not None, log
    assert int(found[1]) == (firmware_build / "rig_firmware.bin").stat().st_size
    assert int(found[2]) == sum(in_sram.values())


def test_uf2_is_valid_for_an_rp2040(firmware_build: Path) -> None:
    data = (firmware_build / "rig_firmware.uf2").read_bytes()
    image = (firmware_build / "rig_firmware.bin").read_bytes()
    blocks = uf2.read_uf2(data)
    assert len(blocks) == (len(image) + 255) // 256
    for n, block in enumerate(blocks):
        assert block.flags & uf2.FLAG_FAMILY_ID_PRESENT
        assert block.family_id == 0xE48BFF56
        assert block.block_no == n and block.num_blocks == len(blocks)
        assert block.target_addr == 0x10000000 + 256 * n
        assert len(block.payload) == 256
    raw = struct.unpack_from("<II", data, 0) + struct.unpack_from("<I", data, 508)
    assert raw == (0x0A324655, 0x9E5D5157, 0x0AB16F30)
    assert uf2.uf2_to_bin(data)[:len(image)] == image


def test_what_the_uf2_puts_in_flash_boots(firmware_build: Path, tmp_path: Path) -> None:
    """Lay the UF2's blocks into an erased 2 MiB flash the way the ROM's UF2 loader does (each payload
    at its target address) and boot that, not the .bin: model ROM -> boot2 CRC -> boot2 -> vector table
    -> the firmware enumerates with the contract's IDs."""
    need_bridge()
    flash = bytearray(b"\xff" * (2 << 20))
    for block in uf2.read_uf2((firmware_build / "rig_firmware.uf2").read_bytes()):
        offset = block.target_addr - 0x10000000
        assert offset >= 0 and offset + len(block.payload) <= len(flash), hex(block.target_addr)
        flash[offset:offset + len(block.payload)] = block.payload
    image = tmp_path / "from_uf2.bin"
    image.write_bytes(bytes(flash).rstrip(b"\xff"))
    with EmulatorLink(image, rom=firmware_build / "rom_model.bin") as link:
        device = bytes(link.control(0x80, 6, 0x0100, 0, 18, 2000))
        assert struct.unpack_from("<HH", device, 8) == (c.VID, c.PID)
        facts = link.info()
    assert facts["boot"]["boot2_entered"] and facts["state"] == "running"


def test_boot2_carries_its_crc_and_vectors_follow(firmware_build: Path) -> None:
    image = (firmware_build / "rig_firmware.bin").read_bytes()
    boot2 = image[:256]
    assert struct.unpack_from("<I", boot2, 252)[0] == crc32_mpeg2(boot2[:252])
    sp, reset = struct.unpack_from("<II", image, 0x100)
    assert 0x20000000 < sp <= 0x20042000 and sp % 8 == 0
    assert reset & 1 and 0x10000100 <= reset & ~1 < 0x10000000 + len(image)


def test_crc_check_value_of_the_boot2_algorithm() -> None:
    assert crc32_mpeg2(b"123456789") == 0x0376E6E7  # the published CRC-32/MPEG-2 check value
