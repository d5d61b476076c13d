"""After a watchdog reset the device is reachable again: the chip reboots, its USB device leaves the
bus and attaches again once the rebooted firmware enables USB, and the host enumerates it as a new
device (USB 2.0 9.1.2: bus reset, descriptors at the default address, SET_ADDRESS, descriptors read
again), after which it is configured and used as before. The watchdog is fired by the bridge's test
hook, as the firmware's own store to CTRL.TRIGGER would (RP2040 datasheet 4.7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.links.emulator import EmulatorLink
from rig.links.usb_link import LinkTimeout

from .conftest import T, need_bridge

GET_DESCRIPTOR, SET_CONFIGURATION, GET_CONFIGURATION = 6, 9, 8
PLAIN_OUT, PLAIN_IN = 0x03, 0x82


@pytest.mark.parametrize("image", ["plain.uf2", "rig_firmware.bin"])
def test_after_a_watchdog_reset_the_device_enumerates_again(firmware_build: Path, image: str) -> None:
    need_bridge()
    with EmulatorLink(firmware_build / image) as link:
        before = link.control(0x80, GET_DESCRIPTOR, 0x0100, 0, 18, T)
        link.control(0x00, SET_CONFIGURATION, 1, 0, b"", T)
        link.watchdog_reset()
        address = link.reattach()
        info = link.info()
        assert [r["reason"] for r in info["chip"]["watchdog_resets"]] == ["watchdog forced (CTRL.TRIGGER)"]
        assert info["attachments"] == link.attachments == 2
        assert address == 1, "the host gave the device a new address"
        assert info["usb_rules"]["host"]["address"] == 1
        assert link.control(0x80, GET_CONFIGURATION, 0, 0, 1, T) == b"\x00", "a new device is unconfigured"
        assert link.control(0x80, GET_DESCRIPTOR, 0x0100, 0, 18, T) == before
        link.control(0x00, SET_CONFIGURATION, 1, 0, b"", T)
        assert link.control(0x80, GET_CONFIGURATION, 0, 0, 1, T) == b"\x01"
        if image == "plain.uf2":  # and it works: the echo of a Note On on cable 1
            packet = bytes((0x19, 0x91, 60, 100))
            assert link.write(PLAIN_OUT, packet, T) == 4
            assert link.read(PLAIN_IN, 32, T) == packet


def test_reattach_without_a_reset_times_out_saying_so(firmware_build: Path) -> None:
    """A named error, not a hang, when the device never left the bus."""
    need_bridge()
    with (EmulatorLink(firmware_build / "plain.uf2", timeout_scale=1) as link,
          pytest.raises(LinkTimeout, match=r"did not attach again within 0\.2 s .*never left the bus")):
        link.reattach(0.2)
