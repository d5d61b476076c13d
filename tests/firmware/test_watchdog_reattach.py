"""After a watchdog reset the device is reachable again: the chip reboots, its USB device leaves the
bus and attaches again once the rebooted firmware enables USB, and the host enumerates it as a new
device (USB 2.0 9.1.2: bus reset, descriptors at the default address, SET_ADDRESS, descriptors read
again), after which it is configured and used as before. The watchdog is fired by the bridge's test
hook, as the firmware's own store to CTRL.TRIGGER would (RP2040 datasheet 4.7)."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import usb.core

from rig.errors import TargetError
from rig.links.emulator import EmulatorLink
from rig.links.pyusb_backend import LinkBackend
from rig.links.usb_link import DeviceReenumerated, LinkTimeout, UsbLink
from rig.loopback import LoopbackBoard
from rig.targets.board import BoardTarget
from rig.targets.emulator import EmulatorTarget
from rig.targets.registry import TargetSpec
from rig.targets.usb_device import UsbDeviceTarget

from .conftest import T, need_bridge

GET_DESCRIPTOR, SET_CONFIGURATION, GET_CONFIGURATION = 6, 9, 8
PLAIN_OUT, PLAIN_IN = 0x03, 0x82


def reset_and_see_the_old_handle_fail(board: EmulatorLink, old: usb.core.Device) -> None:
    """Fire `board`'s watchdog, wait until its device attached again, and see a transfer on the handle
    opened before fail as libusb fails it for a device that went (ENODEV), saying what happened."""
    board.watchdog_reset()
    board.wait_attached()
    with pytest.raises(usb.core.USBError, match="enumerated again as a new device") as failure:
        old.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1)
    assert failure.value.errno == errno.ENODEV


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


def test_a_stale_handle_is_refused_until_reattach(firmware_build: Path) -> None:
    """After the device enumerated again by itself, the handle opened before is stale (a new device,
    USB 2.0 9.1.2): every transfer fails with DeviceReenumerated naming the image and the reset, none
    reaches the new device, until reattach() enumerates it (docs/protocol.md, *Re-enumeration*)."""
    need_bridge()
    with EmulatorLink(firmware_build / "plain.uf2") as link:
        link.control(0x00, SET_CONFIGURATION, 1, 0, b"", T)
        link.watchdog_reset()
        link.wait_attached()
        stale = r"plain\.uf2.*enumerated again as a new device \(attachment 2\) after a watchdog reset"
        with pytest.raises(DeviceReenumerated, match=stale):
            link.control(0x80, GET_CONFIGURATION, 0, 0, 1, T)
        with pytest.raises(DeviceReenumerated, match=stale):
            link.write(PLAIN_OUT, bytes((0x19, 0x91, 60, 100)), T)
        assert not link.alive
        assert link.info()["usb_rules"]["host"]["address"] == 0, "nothing of the stale handle's reached it"
        link.reattach()
        assert link.alive
        assert link.control(0x80, GET_CONFIGURATION, 0, 0, 1, T) == b"\x00"


@pytest.mark.parametrize("image", ["plain.uf2", "rig_firmware.bin"])
def test_an_open_target_follows_its_device_through_a_watchdog_reset(firmware_build: Path, image: str) -> None:
    """The target's pyusb device fails with ENODEV saying what happened; reattach() finds the same
    device (VID:PID, serial) on the same emulated board and the target goes on with a new one."""
    need_bridge()
    with EmulatorTarget(TargetSpec.parse(f"emulator:{firmware_build / image}"), jack="never") as target:
        before = target.identity()
        old = target.usb_device()
        old.set_configuration()
        assert target.link is not None
        reset_and_see_the_old_handle_fail(target.link, old)
        target.reattach()
        assert target.identity() == before
        new = target.usb_device()
        assert new is not old
        assert new.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1).tobytes() in (b"\x00", b"\x01")
        new.set_configuration()
        if image == "plain.uf2":
            packet = bytes((0x19, 0x91, 60, 100))
            assert new.write(PLAIN_OUT, packet) == 4
            assert bytes(new.read(PLAIN_IN, 32)) == packet


def test_reattach_when_the_device_never_left_names_it(firmware_build: Path) -> None:
    """A clear error naming the device, not a hang, and the target stays usable."""
    need_bridge()
    with EmulatorTarget(TargetSpec.parse(f"emulator:{firmware_build / 'plain.uf2'}"), jack="never") as target:
        never = r"device 1209:0002 serial .* did not enumerate again: .*never left the bus"
        with pytest.raises(TargetError, match=never):
            target.reattach(0.05)  # wall seconds times the bridge's timeout scale (at most 30x)
        target.usb_device().set_configuration()


def test_a_usb_target_on_a_software_bus_follows_its_device_through_a_watchdog_reset(
        firmware_build: Path) -> None:
    """usb:VID:PID,bus=emulator: the target enumerates the new device as the OS would, finds the same
    VID:PID and serial number, and goes on with a new pyusb device, unconfigured (USB 2.0 9.1.2)."""
    need_bridge()
    with UsbDeviceTarget(TargetSpec.parse("usb:cafe:4001,bus=emulator")) as target:
        before = target.identity()
        assert before.startswith("cafe:4001 serial ") and not before.endswith("(none)")
        old = target.usb_device()
        old.set_configuration()
        assert target.link is not None
        board = target.link.inner
        assert isinstance(board, EmulatorLink)
        reset_and_see_the_old_handle_fail(board, old)
        target.reattach()
        assert target.identity() == before
        new = target.usb_device()
        assert new is not old
        assert new.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1).tobytes() == b"\x00"
        new.set_configuration()
        assert new.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1).tobytes() == b"\x01"
        assert target.probe is not None and target.probe.capabilities.midi


def test_a_usb_target_on_libusb_finds_its_device_again_once_the_os_has_enumerated_it(
        firmware_build: Path) -> None:
    """What libusb shows after the OS enumerated the rebooted device is found again by VID:PID and
    serial; the MIDI echo works on the new device. (The bus here is a pyusb backend over the emulated
    board, standing in for libusb; the test plays the OS's enumeration.)"""
    need_bridge()
    with EmulatorLink(firmware_build / "plain.uf2") as link, \
            UsbDeviceTarget(TargetSpec.parse("usb:1209:0002"), backend=LinkBackend([link])) as target:
        before = target.identity()
        target.usb_device().set_configuration()
        link.watchdog_reset()
        link.reattach()  # the OS enumerates the new device
        target.reattach()
        assert target.identity() == before
        new = target.usb_device()
        new.set_configuration()
        packet = bytes((0x19, 0x91, 60, 100))
        assert new.write(PLAIN_OUT, packet) == 4
        assert bytes(new.read(PLAIN_IN, 32)) == packet


@pytest.mark.parametrize("then", ["unplugged", "another device in its place"])
def test_a_usb_target_whose_device_does_not_come_back_says_so(firmware_build: Path, then: str) -> None:
    """Found again only as the same VID:PID and serial: a device of another identity where it was
    (usb:BUS-PORT selects by place) is named, and the target closed."""
    need_bridge()
    with EmulatorLink(firmware_build / "plain.uf2") as link, LoopbackBoard() as other:
        present: list[UsbLink] = [link]
        with UsbDeviceTarget(TargetSpec.parse("usb:1-1"), backend=LinkBackend(lambda: present)) as target:
            before = target.identity()
            present[:] = [other] if then == "another device in its place" else []
            gone = rf"device {before} did not come back within 0\.2 s"
            if then == "unplugged":
                with pytest.raises(TargetError, match=gone + "$"):
                    target.reattach(0.2)
                assert target.identity() == before, "the target stays as it was"
            else:
                with pytest.raises(TargetError, match=gone + r"; bus 1 port 1 is now 1209:0001 serial 4C4F"):
                    target.reattach(0.2)
                with pytest.raises(TargetError, match="is not open"):
                    target.usb_device()


def test_a_board_target_finds_its_board_again_once_the_os_has_enumerated_it(firmware_build: Path,
                                                                            tmp_path: Path) -> None:
    """Our board through libusb (a pyusb backend over the emulated board stands in for it; the test
    plays the OS's enumeration): the old handle fails with ENODEV; the board is found again by its
    serial number and probed again (GET_INFO)."""
    need_bridge()
    with EmulatorLink(firmware_build / "rig_firmware.bin") as link, \
            BoardTarget(TargetSpec.parse("board"), backend=LinkBackend([link]), sys_root=tmp_path) as target:
        old = target.usb_device()
        serial = old.serial_number
        had = target.features
        assert target.probe is not None and target.probe.ours, target.probe
        old.set_configuration()
        reset_and_see_the_old_handle_fail(link, old)
        link.reattach()  # the OS enumerates the new device
        target.reattach()
        new = target.usb_device()
        assert new is not old and new.serial_number == serial
        assert target.features == had and target.probe.ours, target.probe
        new.set_configuration()  # (probing it for GET_INFO may have configured it already)
        assert new.ctrl_transfer(0x80, GET_CONFIGURATION, 0, 0, 1).tobytes() == b"\x01"


def test_a_board_target_whose_board_does_not_come_back_says_so(firmware_build: Path, tmp_path: Path) -> None:
    need_bridge()
    with EmulatorLink(firmware_build / "rig_firmware.bin") as link:
        present: list[UsbLink] = [link]
        with BoardTarget(TargetSpec.parse("board"), backend=LinkBackend(lambda: present),
                         sys_root=tmp_path) as target:
            present.clear()
            gone = r"board 1209:0001 serial \w+ did not come back within 0\.2 s$"
            with pytest.raises(TargetError, match=gone):
                target.reattach(0.2)
