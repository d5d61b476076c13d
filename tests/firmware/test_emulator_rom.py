"""The firmware's ROM and flash paths in the emulator, through the model boot ROM and flash chip:
the ROM checks boot2's CRC and enters it, boot2 sets VTOR; flash reads with XIP off are caught;
iSerialNumber is the flash chip's unique ID read through the ROM's flash functions; REBOOT_BOOTLOADER
and the 1200-baud touch on the console pty reach the ROM's reset_usb_boot and take the device to
BOOTSEL. Tests that reboot use their own link or target, never the module's."""

from __future__ import annotations

import re
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial
import usb.core
import usb.util

from rig import contract as c
from rig.links.emulator import BridgeStartError, EmulatorLink, flash_uid_hex
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import LinkGone
from rig.pytest_plugin.testing import load_module
from rig.targets.emulator import EmulatorTarget
from rig.targets.factory import make_target
from rig.tools.flash import touch_1200

from .conftest import FIRMWARE, T, assemble, need_bridge

BOOT2_SRAM = range(0x20041F00, 0x20042000)
ROM_END = 0x4000
ROM_CALLS = ("connect_internal_flash", "flash_exit_xip", "flash_flush_cache", "flash_enter_cmd_xip",
             "reset_usb_boot")
BOOTSEL_TEXT = ("device rebooted into the USB bootloader (BOOTSEL): "
                "reset_usb_boot(gpio_activity_mask=0x0, disable_interface_mask=0x0)")


def rom_code(name: str) -> int:
    return ord(name[0]) | ord(name[1]) << 8


def serial_of(link: EmulatorLink) -> str:
    (device,) = usb.core.find(find_all=True, backend=LinkBackend([link]))
    text = usb.util.get_string(device, c.STRING_INDEX_SERIAL)
    usb.util.dispose_resources(device)
    assert text is not None
    return str(text)


def wait_for(what: str, check: Any, limit_s: float = 20.0) -> None:
    deadline = time.monotonic() + limit_s
    while not check():
        assert time.monotonic() < deadline, f"{what} did not happen within {limit_s} s"
        time.sleep(0.02)


def with_boot2(image: bytes, boot2: bytes) -> bytes:
    assert len(boot2) == 256
    return boot2 + image[256:]


def boot2_variant(tmp_path: Path, edit: Any) -> bytes:
    """boot2 assembled from its source after `edit(text)`, padded and CRC-stamped as the build does."""
    pad = load_module(FIRMWARE / "tools" / "boot2_pad.py", "boot2_pad")
    source = edit((FIRMWARE / "boot2" / "boot2_w25q080.S").read_text())
    raw, _ = assemble(source, 0x20041F00, tmp_path, "boot2")
    block: bytes = pad.pad(raw)
    return block


@pytest.fixture(scope="module")
def booted(link: EmulatorLink) -> dict[str, Any]:
    """INFO of the module's board right after boot (before any test talks to it)."""
    return link.info()


# --- the ROM itself ------------------------------------------------------------------------------------

def test_rom_header_and_function_table_follow_the_datasheet_layout(firmware_rom: Path) -> None:
    rom = firmware_rom.read_bytes()
    assert len(rom) <= ROM_END
    sp, reset, nmi, hardfault = struct.unpack_from("<IIII", rom, 0)
    assert sp == 0x20042000 and all(v & 1 and v < len(rom) for v in (reset, nmi, hardfault))
    assert rom[0x10:0x13] == b"Mu\x01"  # what the firmware's rom_present() checks
    func_table, data_table, lookup = struct.unpack_from("<HHH", rom, 0x14)
    assert lookup & 1 and lookup < len(rom)
    entries = {}
    for at in range(func_table, len(rom), 4):
        code, pointer = struct.unpack_from("<HH", rom, at)
        if code == 0:
            break
        entries[code] = pointer
    assert set(entries) == {rom_code(n) for n in ("IF", "EX", "FC", "CX", "UB")}
    assert all(p & 1 and p < len(rom) for p in entries.values())  # Thumb functions inside the ROM
    assert struct.unpack_from("<H", rom, data_table)[0] == rom_code("CR")


def test_the_rom_boots_boot2_and_boot2_sets_vtor(booted: dict[str, Any], firmware_image: Path) -> None:
    boot = booted["boot"]
    stored_crc = struct.unpack_from("<I", firmware_image.read_bytes(), 252)[0]
    assert boot["boot2_entered"] and int(boot["boot2_crc"], 16) == stored_crc
    first = boot["vtor_writes"][0]  # before the image's own reset handler writes it again
    assert int(first["value"], 16) == 0x10000100 and int(first["pc"], 16) in BOOT2_SRAM
    assert booted["state"] == "running" and booted["flash"]["xip"] is True
    # The firmware read the unique ID itself, through the ROM (its boot's own calls are not counted).
    assert booted["rom"]["calls"] == dict(zip(ROM_CALLS, (1, 1, 1, 0, 0), strict=True))
    assert booted["flash"]["commands"]["4B"] == 1 and booted["flash"]["unmodelled_commands"] == 0


@pytest.mark.parametrize("offset", [12, 252], ids=["code-byte", "crc-byte"])
def test_an_image_whose_boot2_crc_does_not_match_does_not_boot(firmware_image: Path, firmware_rom: Path,
                                                                 tmp_path: Path, offset: int) -> None:
    need_bridge()
    image = bytearray(firmware_image.read_bytes())
    stored = struct.unpack_from("<I", image, 252)[0]
    image[offset] ^= 0x40
    bad = tmp_path / "bad_crc.bin"
    bad.write_bytes(bytes(image))
    with pytest.raises(BridgeStartError, match="a real RP2040 would stay in the USB bootloader") as caught:
        EmulatorLink(bad, rom=firmware_rom)
    found = re.search(r"boot2 CRC mismatch: the ROM computed (0x[0-9a-f]+) .* offset 252 holds (0x[0-9a-f]+)",
                      str(caught.value))
    assert found is not None, caught.value
    computed, held = int(found[1], 16), int(found[2], 16)
    assert held == struct.unpack_from("<I", image, 252)[0]
    assert (computed == stored) == (offset == 252)


@pytest.mark.parametrize("damage", ["no-magic", "no-reset_usb_boot"])
def test_a_rom_without_what_the_firmware_calls_stops_it_before_usb(firmware_image: Path, firmware_rom: Path,
                                                                   tmp_path: Path, damage: str) -> None:
    """No fallback: the firmware stops at bkpt #1 (in its own code) rather than run without the ROM."""
    need_bridge()
    rom = bytearray(firmware_rom.read_bytes())
    if damage == "no-magic":
        rom[0x10] = ord("X")
    else:
        table = struct.unpack_from("<H", rom, 0x14)[0]
        at = next(a for a in range(table, len(rom), 4) if rom[a:a + 2] == b"UB")  # code 'U' | 'B' << 8
        struct.pack_into("<H", rom, at, rom_code("UX"))
    damaged = tmp_path / "damaged_rom.bin"
    damaged.write_bytes(bytes(rom))
    stop = r"firmware stopped at a breakpoint \(bkpt #1, pc 0x1"
    with pytest.raises(BridgeStartError, match=stop) as caught:
        EmulatorLink(firmware_image, rom=damaged)
    assert "boot2" not in str(caught.value)  # the ROM booted the image; the firmware itself stopped


# --- the XIP guard ----------------------------------------------------------------------------------

def test_boot2_that_reads_flash_before_setting_up_xip_is_caught(firmware_image: Path, firmware_rom: Path,
                                                                 tmp_path: Path) -> None:
    need_bridge()
    disable = "    str r1, [r3, #SSI_SSIENR]\n"

    def read_flash_after_disabling_the_ssi(text: str) -> str:
        assert disable in text
        return text.replace(disable, disable + "    ldr r0, =0x10000000\n    ldr r0, [r0]\n", 1)

    bad = tmp_path / "bad_boot2.bin"
    boot2 = boot2_variant(tmp_path, read_flash_after_disabling_the_ssi)
    bad.write_bytes(with_boot2(firmware_image.read_bytes(), boot2))
    with pytest.raises(BridgeStartError) as caught:
        EmulatorLink(bad, rom=firmware_rom)
    text = str(caught.value)
    found = re.search(r"firmware bug: flash read at 0x10000000 \(pc (0x[0-9a-f]+)\) while XIP is off: "
                      r"the SSI is disabled \(SSIENR = 0\)", text)
    assert found is not None, text
    assert int(found[1], 16) in BOOT2_SRAM


def test_code_that_leaves_xip_and_runs_on_in_flash_is_caught(firmware_image: Path, firmware_rom: Path,
                                                             tmp_path: Path) -> None:
    """An image that calls the ROM's flash_exit_xip from flash: the next instruction fetch is the bug."""
    need_bridge()
    program = """
    .syntax unified
    .cpu cortex-m0plus
    .thumb
    .section .text
    .word 0x20042000
    .word reset + 1
reset:
    movs r0, #0x14
    ldrh r4, [r0]           /* the ROM's function table */
    ldrh r3, [r0, #4]       /* rom_table_lookup, at 0x18 */
    mov r0, r4
    ldr r1, =0x5845         /* 'E', 'X' */
    blx r3
    blx r0                  /* flash_exit_xip */
after_exit:
    nop
    b .
    .ltorg
"""
    code, symbols = assemble(program, 0x10000100, tmp_path)
    bad = tmp_path / "exit_xip.bin"
    bad.write_bytes(firmware_image.read_bytes()[:256] + code)
    with pytest.raises(BridgeStartError) as caught:
        EmulatorLink(bad, rom=firmware_rom)
    where = f"0x{symbols['after_exit']:x}"
    assert (f"firmware bug: flash instruction fetch at {where} (pc {where}) while XIP is off: "
            "the SSI is in serial command mode (TMOD 0, XIP needs 3)") in str(caught.value)


# --- the unique ID ----------------------------------------------------------------------------------

def test_serial_number_is_the_flash_unique_id_read_through_the_rom(firmware_image: Path) -> None:
    need_bridge()
    uids = [secrets.token_bytes(8) for _ in range(2)]
    while uids[1] == uids[0]:
        uids[1] = secrets.token_bytes(8)
    serials = []
    for uid in uids:
        with EmulatorLink(firmware_image, flash_uid=uid) as link:
            serials.append(serial_of(link))
            info = c.INFO.unpack(bytes(link.control(0xC0, c.Request.GET_INFO, 0, 0, c.INFO.size, T)))
            assert info["unique_id"] == uid
            facts = link.info()
            assert facts["state"] == "running" and facts["flash"]["xip"] is True  # the guard did not trip
            assert facts["flash"]["uid"] == uid.hex().upper() and facts["flash"]["commands"]["4B"] == 1
    assert serials == [uid.hex().upper() for uid in uids]
    assert serials[0] != serials[1]


def test_flash_uid_is_checked_before_the_bridge_starts(firmware_image: Path) -> None:
    assert flash_uid_hex("00112233445566aa") == "00112233445566AA"
    for bad in ("0011", b"\x00" * 7, "zz112233445566aa"):
        with pytest.raises(ValueError, match="8 bytes"):
            EmulatorLink(firmware_image, flash_uid=bad)


# --- BOOTSEL ----------------------------------------------------------------------------------------

@pytest.fixture
def own_link(firmware_image: Path) -> Iterator[EmulatorLink]:
    """A board of the test's own: these tests reboot it."""
    need_bridge()
    with EmulatorLink(firmware_image) as link:
        yield link


def test_reboot_bootloader_completes_then_the_device_is_gone_in_bootsel(own_link: EmulatorLink) -> None:
    link = own_link
    link.control(0x00, 9, c.CONFIG_VALUE, 0, b"", T)
    info = c.INFO.unpack(bytes(link.control(0xC0, c.Request.GET_INFO, 0, 0, c.INFO.size, T)))
    assert c.Capability.BOOTLOADER in c.Capability(int(info["capabilities"]))
    pending: list[BaseException] = []

    def read_forever() -> None:
        try:
            link.read(c.EP_MIDI_IN, 64, 0)
        except BaseException as exc:
            pending.append(exc)

    reader = threading.Thread(target=read_forever)
    reader.start()
    assert link.control(0x40, c.Request.REBOOT_BOOTLOADER, 0, 0, b"", T) == 0  # the status stage completed
    gone = None
    for _ in range(100):  # the firmware reboots after the status stage: a request or two may still land
        try:
            link.control(0x80, 0, 0, 0, 2, T)
        except LinkGone as exc:
            gone = exc
            break
    assert gone is not None and BOOTSEL_TEXT in str(gone)
    reader.join(timeout=30)
    assert len(pending) == 1 and isinstance(pending[0], LinkGone) and BOOTSEL_TEXT in str(pending[0])
    assert not link.alive
    for call in (lambda: link.write(c.EP_MIDI_OUT, b"\x09\x90\x01\x01", T), link.reset,
                 lambda: link.read(c.EP_MIDI_IN, 64, T)):
        with pytest.raises(LinkGone, match=re.escape(BOOTSEL_TEXT)):
            call()
    facts = link.info()  # the bridge stays up and says why
    assert facts["state"] == "bootsel" and not facts["ready"]
    assert facts["bootsel"]["gpio_activity_mask"] == 0 and facts["bootsel"]["disable_interface_mask"] == 0
    assert facts["rom"]["calls"]["reset_usb_boot"] == 1
    before = link.ping()
    assert link.ping() == before  # the chip no longer runs


def test_1200_baud_touch_on_the_console_pty_reaches_the_rom(firmware_image: Path) -> None:
    need_bridge()
    with make_target(f"emulator:{firmware_image}") as target:
        assert isinstance(target, EmulatorTarget)
        link = target.link
        assert link is not None
        target.usb_device().set_configuration()

        def line_rate() -> int:
            coding = bytes(link.control(0xA1, 0x21, 0, c.IF_CDC_COMM, 7, T))  # GET_LINE_CODING
            return int(struct.unpack_from("<I", coding)[0])

        with serial.Serial(target.console_port(), 57600):  # any change is forwarded as SET_LINE_CODING
            wait_for("SET_LINE_CODING 57600", lambda: line_rate() == 57600)
        assert link.info()["rom"]["calls"]["reset_usb_boot"] == 0
        touch_1200(target.console_port())  # what `rig flash` does to a board running this firmware
        wait_for("BOOTSEL", lambda: link.info()["state"] == "bootsel")
        facts = link.info()
        assert facts["rom"]["calls"]["reset_usb_boot"] == 1
        assert facts["bootsel"]["gpio_activity_mask"] == 0 and facts["bootsel"]["disable_interface_mask"] == 0
        assert not link.alive
        with pytest.raises(LinkGone, match="BOOTSEL"):
            link.control(0x80, 0, 0, 0, 2, T)
