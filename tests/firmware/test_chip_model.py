"""What a real boot ROM and firmware we did not write need of the emulated chip (issue #8 section 2):
VREG_AND_CHIP_RESET and pad reset values from the datasheet, QSPI_SS high unless BOOTSEL is held, a
watchdog that resets the chip, flash program/erase and quad I/O reads with the QE bit (as pico-sdk's
W25Q080 boot2 uses), and a bridge that never outlives its parent. The register-level facts come from
chip_model_probe.js; the boot paths run small ARM programs assembled here."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from rig.links.emulator import BRIDGE_DIR, BridgeStartError, EmulatorLink, node_executable
from rig.pytest_plugin.testing import load_module

from .conftest import FIRMWARE, REPO, T, assemble, need_bridge

PROBE = Path(__file__).with_name("chip_model_probe.js")
FF = 0xFF


def probe(bootsel: bool) -> dict[str, Any]:
    need_bridge()
    node = node_executable()
    assert node is not None
    result = subprocess.run([node, str(PROBE), str(BRIDGE_DIR), "1" if bootsel else "0"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    return probe(bootsel=False)


def test_vreg_and_chip_reset_read_their_datasheet_reset_values(seen: dict[str, Any]) -> None:
    """Datasheet 2.10.6: VREG 0xb1 (+ROK), BOD 0x91, CHIP_RESET with HAD_POR and no rescue flag."""
    assert seen["vreg"] == 0x10B1 and seen["bod"] == 0x91
    assert seen["chip_reset"] == 0x100 and not seen["chip_reset"] & (1 << 24)
    assert seen["vreg_after_write"] == 0x10C1


def test_pads_have_their_reset_values_and_ss_reads_high(seen: dict[str, Any]) -> None:
    """Datasheet 2.19.6.3/2.19.6.4 reset values; the ROM samples QSPI_SS high: no BOOTSEL."""
    assert seen["pad_gpio0"] == 0x56
    assert seen["pad_qspi"] == [0x56, 0x52, 0x52, 0x52, 0x52, 0x5A]  # SCLK, SD0..SD3, SS (register order)
    assert seen["ss_in"] == 1
    assert probe(bootsel=True)["ss_in"] == 0


def test_a_watchdog_trigger_resets_once_and_stops_the_watchdog(seen: dict[str, Any]) -> None:
    assert seen["resets_after_trigger"] == ["watchdog forced (CTRL.TRIGGER)"]
    assert seen["watchdog_ctrl_after"] == 0


def test_page_program_and_erase_change_the_flash(seen: dict[str, Any]) -> None:
    """W25Q80 02h (needs WEL, clears it; bits only 1 -> 0; wraps in its page), 20h sector, D8h block."""
    assert seen["program_without_wel"] == [FF] * 4
    assert seen["programmed"] == [0x0F, 0xF0, FF, FF]
    assert seen["programmed_again"] == [0x03, 0xF0, FF, FF] and seen["wel_after_program"] == 0
    assert seen["page_wrap"] == [0xA1, 0x02]  # 0x20ff got a1, the next byte wrapped to 0x2000
    assert seen["after_sector_erase"] == [FF] * 4 and seen["untouched_by_erase"] == [0x11, 0x22, 0x33, 0x44]
    assert seen["after_block_erase"] == [FF] * 4


def test_quad_io_needs_qe_and_continuous_mode_gives_xip(seen: dict[str, Any]) -> None:
    assert seen["eb_without_qe"] == 0xFFFFFFFF
    assert seen["xip_reason_without_qe"] == "quad XIP reads need the flash's QE bit (status register 2 bit 1)"
    assert seen["sr2_after_qe"] == 0x02
    assert seen["eb_with_qe"] == 0xC0FFEE00 and seen["continuous"] is True
    assert seen["quad_xip"] is True and seen["quad_xip_reason"] is None
    assert seen["quad_xip_read"] == 0x00EEFFC0
    assert seen["continuous_after_exit"] is False
    assert seen["xip_reason_after_exit"] == ("no instruction is sent but the chip is not in continuous "
                                             "read mode")


# --- boot paths with programs assembled here ----------------------------------------------------------

QUAD_BOOT2 = """
    .syntax unified
    .cpu cortex-m0plus
    .thumb
    .global boot2_entry
    .macro ssi_enable on                /* SSIENR (r3 = SSI base): the others change only while it is 0 */
    movs r1, #\\on
    str r1, [r3, #8]
    .endm
    .macro set_spi_ctrlr0 value         /* SPI_CTRLR0, at 0xf4: beyond a str immediate offset */
    ldr r1, =\\value
    movs r2, #0xf4
    str r1, [r3, r2]
    .endm
boot2_entry:
    push {lr}
    ldr r3, =0x18000000
    ssi_enable 0
    movs r1, #4
    str r1, [r3, #0x14]
    ldr r1, =(7 << 16)
    str r1, [r3, #0]
    ssi_enable 1
    ldr r1, =0x4001800c
    movs r0, #0
    str r0, [r1]
%(qe)s
quad:
    ssi_enable 0
    ldr r1, =((2 << 21) | (31 << 16) | (3 << 8))
    str r1, [r3, #0]
    movs r1, #0
    str r1, [r3, #4]
    set_spi_ctrlr0 ((4 << 11) | (2 << 8) | (8 << 2) | 1)
    ssi_enable 1
    movs r0, #0xeb
    str r0, [r3, #0x60]
    movs r0, #0xa0
    str r0, [r3, #0x60]
    bl drain
    ssi_enable 0
    set_spi_ctrlr0 ((0xa0 << 24) | (4 << 11) | (8 << 2) | 2)
    ssi_enable 1
    pop {r0}
    cmp r0, #0
    beq enter
    bx r0
enter:
    ldr r0, =0x10000100
    ldr r1, =0xe000ed08
    str r0, [r1]
    ldmia r0!, {r1, r2}
    msr msp, r1
    bx r2
xfer2:
    str r0, [r3, #0x60]
    movs r0, #0
    str r0, [r3, #0x60]
drain:
    ldr r1, [r3, #0x28]
    movs r2, #8
    tst r1, r2
    beq done
    ldr r0, [r3, #0x60]
    b drain
done:
    bx lr
    .ltorg
"""
SET_QE = """
    movs r0, #0x35
    bl xfer2
    movs r1, #2
    tst r0, r1
    bne quad
    movs r0, #0x06
    str r0, [r3, #0x60]
    bl drain
    movs r0, #0x01
    str r0, [r3, #0x60]
    movs r0, #0
    str r0, [r3, #0x60]
    movs r0, #2
    str r0, [r3, #0x60]
    bl drain
"""


def quad_image(firmware_image: Path, tmp_path: Path, *, set_qe: bool) -> Path:
    """Our firmware with a boot2 that reads the flash as pico-sdk's W25Q080 boot2 does: QE set through
    status register 2 when clear, one EBh read leaving the chip in continuous mode, XIP with no
    instruction and 0xA0 as mode bits."""
    pad = load_module(FIRMWARE / "tools" / "boot2_pad.py", "boot2_pad")
    raw, _ = assemble(QUAD_BOOT2 % {"qe": SET_QE if set_qe else ""}, 0x20041F00, tmp_path, "quad_boot2")
    image = tmp_path / "quad.bin"
    image.write_bytes(pad.pad(raw) + firmware_image.read_bytes()[256:])
    return image


def test_firmware_boots_through_a_quad_io_boot2(firmware_image: Path, tmp_path: Path) -> None:
    need_bridge()
    with EmulatorLink(quad_image(firmware_image, tmp_path, set_qe=True)) as link:
        serial = link.control(0x80, 6, 0x0303, 0x0409, 255, T)  # the unique ID, read with XIP off and back
        assert isinstance(serial, bytes) and len(serial) == 34
        flash = link.info()["flash"]
    assert flash["quad_enabled"] and flash["continuous_read"] and flash["xip"]
    assert flash["commands"]["35"] >= 1 and flash["commands"]["01"] == 1
    assert flash["ssi"]["spi_ctrlr0"] == hex((0xA0 << 24) | (4 << 11) | (8 << 2) | 2)


def test_a_quad_boot2_without_qe_stops_at_its_first_flash_read(firmware_image: Path,
                                                               tmp_path: Path) -> None:
    """Without QE the chip ignores EBh: boot2's read of the vector table is a flash read with XIP off."""
    need_bridge()
    said = r"flash read at 0x10000100 \(pc 0x20041f.*quad XIP reads need the flash's QE bit"
    with pytest.raises(BridgeStartError, match=said):
        EmulatorLink(quad_image(firmware_image, tmp_path, set_qe=False))


WATCHDOG_ONCE = """
    .syntax unified
    .cpu cortex-m0plus
    .thumb
    .global stub
stub:
    ldr r0, =0x4005800c
    ldr r1, [r0]
    ldr r2, =0x5eb00710
    cmp r1, r2
    beq run
    str r2, [r0]
    ldr r0, =0x40058000
    ldr r1, =0xc0000000
    str r1, [r0]
    b .
run:
    ldr r0, =%(reset)#x
    bx r0
    .ltorg
"""
STUB_AT = 0x10080000


def test_a_watchdog_reboot_resets_the_chip_and_boots_again(firmware_image: Path, tmp_path: Path) -> None:
    """Reset handler -> a stub that, on the first boot only, marks watchdog SCRATCH0 and forces a
    watchdog reset: the ROM boots the image again and the firmware enumerates (rp2040js alone spins
    in the watchdog alarm for ever instead)."""
    need_bridge()
    flat = bytearray(firmware_image.read_bytes())
    reset = struct.unpack_from("<I", flat, 0x104)[0]
    stub, _ = assemble(WATCHDOG_ONCE % {"reset": reset}, STUB_AT, tmp_path, "stub")
    flat = flat.ljust(STUB_AT - 0x10000000, b"\xff") + stub
    flat[0x104:0x108] = struct.pack("<I", STUB_AT | 1)
    image = tmp_path / "watchdog.bin"
    image.write_bytes(bytes(flat))
    with EmulatorLink(image) as link:
        device = link.control(0x80, 6, 0x0100, 0, 18, T)
        assert isinstance(device, bytes) and device[:2] == b"\x12\x01"
        chip = link.info()["chip"]
    assert [r["reason"] for r in chip["watchdog_resets"]] == ["watchdog forced (CTRL.TRIGGER)"]


CHILD = """
import sys, time
sys.path.insert(0, %(repo)r)
from rig.links.emulator import EmulatorLink
link = EmulatorLink(%(image)r)
print(link._proc.pid, flush=True)
time.sleep(60)
"""


def test_the_bridge_does_not_outlive_its_parent(firmware_image: Path) -> None:
    """Kill the Python process that started a bridge (no close, no QUIT): the bridge exits too."""
    need_bridge()
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(CHILD % {"repo": str(REPO),
                                                                           "image": str(firmware_image)})],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    bridge_pid = int(child.stdout.readline())
    child.kill()
    child.wait(timeout=10)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{bridge_pid}").exists() and "Z" not in _state(bridge_pid):
        assert time.monotonic() < deadline, f"bridge {bridge_pid} still runs 10 s after its parent died"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0]
    except (OSError, IndexError):
        return "gone"


