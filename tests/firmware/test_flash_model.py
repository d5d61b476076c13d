"""The bridge's model of the XIP SSI, IO_QSPI and a W25Q80-style flash (firmware/emulator/qspi_flash.js),
driven through the emulated memory map by flash_model_probe.js: the chip's commands the firmware does
not use, chip select by burst and by override, EEPROM mode, locked registers, power-down, and when
XIP works (and the read guard trips) and when it does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import run_probe

PROBE = Path(__file__).with_name("flash_model_probe.js")
FF = 0xFF


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    return run_probe(PROBE)


def test_out_of_reset_there_is_no_xip_and_a_flash_read_is_a_fault(seen: dict[str, Any]) -> None:
    assert seen["reset_xip"] is False and seen["reset_reason"] == "the SSI is disabled (SSIENR = 0)"
    assert len(seen["guard_fault"]) == 1
    assert seen["guard_fault"][0].startswith("firmware bug: flash read at 0x10000000")
    assert "while XIP is off: the SSI is disabled (SSIENR = 0)" in seen["guard_fault"][0]


def test_identification_and_status_commands(seen: dict[str, Any]) -> None:
    assert seen["serial_reason"] == "the SSI is in serial command mode (TMOD 0, XIP needs 3)"
    assert seen["jedec"] == [FF, 0xEF, 0x40, 0x14]
    assert seen["sr1"] == [FF, 0, 0] and seen["sr2"] == [FF, 0]
    assert seen["sr1_after_wren"] == [FF, 0x02] and seen["sr1_after_wrdi"] == [FF, 0]
    assert seen["device_id_ab"] == [FF, FF, FF, FF, 0x13]
    assert seen["manufacturer_device_90"] == [FF, FF, FF, FF, 0xEF, 0x13]


def test_serial_reads_and_the_unique_id(seen: dict[str, Any]) -> None:
    assert seen["read_03"] == [FF, FF, FF, FF, 0xDE, 0xAD, 0xBE, 0xEF]
    assert seen["fast_read_0b"] == [FF, FF, FF, FF, FF, 0xBE, 0xEF]
    assert seen["ruid"] == [FF, FF, FF, FF, FF, 1, 2, 3, 4, 5, 6, 7, 8]


def test_chip_select_follows_bursts_without_an_override(seen: dict[str, Any]) -> None:
    assert seen["split_burst"] == [FF, FF]  # 9F alone says nothing; then 00 is a new (unknown) command
    assert seen["info"]["unmodelled_commands"] == 1 and seen["info"]["commands"]["00"] == 1


def test_eeprom_mode_and_locked_registers(seen: dict[str, Any]) -> None:
    assert seen["eeprom_jedec"] == [0xEF, 0x40, 0x14]  # CTRLR1.NDF = 2: three frames in
    assert seen["ctrlr0_after_locked_write"] == (7 << 16) | (3 << 8)
    assert seen["info"]["ssi"]["ignored_writes"] == 1


def test_power_down_stops_xip_until_released(seen: dict[str, Any]) -> None:
    assert seen["powered_down_jedec"] == [FF, FF, FF, FF]
    assert seen["powered_down_reason"] == "the flash is powered down (B9h)"
    assert seen["powered_down_fault"].startswith("firmware bug: flash read at 0x10000004")
    assert seen["powered_down_fault"].endswith("while XIP is off: the flash is powered down (B9h); "
                                               "a real RP2040 would hang or read garbage here")
    assert seen["xip_after_release"] is True
    assert seen["xip_read"] == 0xEFBEADDE and seen["faults_after_xip_read"] == 2  # no new fault


def test_a_forced_chip_select_stops_xip(seen: dict[str, Any]) -> None:
    assert seen["forced_cs_reason"] == "chip select is forced high (IO_QSPI SS_CTRL OUTOVER)"
    assert seen["info"]["xip"] is True  # back once the override is released
