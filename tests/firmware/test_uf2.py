"""rig.tools.uf2: the UF2 writer and reader (no toolchain needed)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.tools import uf2


@given(st.binary(min_size=1, max_size=3000))
def test_round_trip(image: bytes) -> None:
    data = uf2.bin_to_uf2(image)
    assert len(data) == 512 * ((len(image) + 255) // 256)
    assert uf2.uf2_to_bin(data)[:len(image)] == image


def test_last_block_is_zero_padded_to_256() -> None:
    blocks = uf2.read_uf2(uf2.bin_to_uf2(b"\x01\x02\x03"))
    assert len(blocks) == 1 and blocks[0].payload == b"\x01\x02\x03" + bytes(253)


def test_empty_image_is_refused() -> None:
    with pytest.raises(uf2.Uf2Error, match="empty"):
        uf2.bin_to_uf2(b"")


@pytest.mark.parametrize(("offset", "match"), [(0, "magic"), (4, "magic"), (508, "magic"), (20, "numbered"),
                                               (24, "says"), (16, "payload size")])
def test_reader_names_what_is_wrong(offset: int, match: str) -> None:
    data = bytearray(uf2.bin_to_uf2(bytes(600)))
    value = struct.unpack_from("<I", data, offset)[0]
    struct.pack_into("<I", data, offset, value + 1000 if offset == 16 else value ^ 0x5)
    with pytest.raises(uf2.Uf2Error, match=match):
        uf2.read_uf2(bytes(data))


def test_reader_refuses_a_partial_block() -> None:
    with pytest.raises(uf2.Uf2Error, match="multiple of 512"):
        uf2.read_uf2(bytes(100))


def test_command_line(tmp_path: Path) -> None:
    src = tmp_path / "in.bin"
    src.write_bytes(bytes(range(256)) * 3)
    out = tmp_path / "out.uf2"
    subprocess.run([sys.executable, "-m", "rig.tools.uf2", str(src), str(out)], check=True, timeout=60,
                   capture_output=True)
    assert uf2.uf2_to_bin(out.read_bytes()) == src.read_bytes()


def test_emulator_target_explains_a_missing_toolchain(monkeypatch: pytest.MonkeyPatch) -> None:
    from rig.targets import emulator

    monkeypatch.setattr("rig.targets.emulator.shutil.which", lambda name: None)
    with pytest.raises(emulator.FirmwareBuildError, match="arm-none-eabi-gcc is not installed"):
        emulator.build_firmware()


def test_emulator_image_staleness(tmp_path: Path) -> None:
    from rig.links.emulator import ROM_NAME
    from rig.targets import emulator

    assert emulator.image_is_stale(tmp_path / "missing.bin")
    fresh = tmp_path / "fresh.bin"
    fresh.write_bytes(b"x")
    rom = tmp_path / ROM_NAME  # the model boot ROM the build puts beside the image
    newest = max(p.stat().st_mtime for g in emulator.SOURCE_GLOBS for p in emulator.FIRMWARE_DIR.glob(g))
    import os

    os.utime(fresh, (newest + 10, newest + 10))
    assert emulator.image_is_stale(fresh)  # no ROM beside it
    rom.write_bytes(b"r")
    os.utime(rom, (newest + 10, newest + 10))
    assert not emulator.image_is_stale(fresh)
    os.utime(rom, (newest - 10, newest - 10))
    assert emulator.image_is_stale(fresh)
    os.utime(rom, (newest + 10, newest + 10))
    os.utime(fresh, (newest - 10, newest - 10))
    assert emulator.image_is_stale(fresh)


def test_a_block_beyond_the_flash_is_refused_before_allocating() -> None:
    """One 512-byte block at 0xFFFFFF00 once made uf2_to_bin allocate 3.75 GiB: the image is bounded
    by the flash size, with a named error."""
    data = bytearray(uf2.bin_to_uf2(bytes(256)))
    struct.pack_into("<I", data, 12, 0xFFFFFF00)
    with pytest.raises(uf2.FlashOverflow, match=r"block 0: .*0xFFFFFF00.*beyond the 16 MiB flash"):
        uf2.uf2_to_bin(bytes(data))
    assert len(uf2.uf2_to_bin(uf2.bin_to_uf2(bytes(256), base=uf2.FLASH_BASE + uf2.FLASH_SIZE - 256))) \
        == uf2.FLASH_SIZE
