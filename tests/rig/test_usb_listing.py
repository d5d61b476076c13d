"""`rig list` / `rig doctor` see every USB-MIDI class device on the bus, whatever its VID:PID: what it
declares, whether the rig can open it, and the --rig string for it (software bus: loopback boards
presented as foreign devices, one unreadable for lack of permission)."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from typing import Any

import pytest
import usb.core

from rig.cli.list_cmd import print_usb_midi_devices
from rig.links.foreign import ForeignLink
from rig.links.pyusb_backend import LinkBackend, LinkDevice
from rig.loopback import LoopbackBoard
from rig.targets.usb_listing import how_to_point, usb_midi_devices
from rig.tools.doctor import MISSING, NOT_APPLICABLE, OK, Probes, check_usb_midi_devices


class DeniedBackend(LinkBackend):
    """Opening the device at `denied` (an address) fails as libusb does without permission."""

    def __init__(self, links: list[Any], denied: int) -> None:
        super().__init__(links)
        self.denied = denied

    def open_device(self, dev: LinkDevice) -> Any:
        if dev.address == self.denied:
            raise usb.core.USBError("Access denied (insufficient permissions)", -3, errno.EACCES)
        return super().open_device(dev)


@pytest.fixture
def boards() -> Iterator[list[LoopbackBoard]]:
    made = [LoopbackBoard(bytes([0xC0 + i]) * 8, console_pty=False) for i in range(4)]
    yield made
    for board in made:
        board.close()


def test_every_usb_midi_device_is_listed_with_what_it_declares(boards: list[LoopbackBoard]) -> None:
    links = [ForeignLink(boards[0], 0xCAFE, 0x4001, driver_interfaces=(0, 1, 3, 4)),
             ForeignLink(boards[1], 0xCAFE, 0x4001), boards[2], ForeignLink(boards[3], 0xBEEF, 0x0001)]
    entries, problem = usb_midi_devices(DeniedBackend(links, denied=4))
    assert problem is None
    assert [e.ids for e in entries] == ["cafe:4001", "cafe:4001", "1209:0001", "beef:0001"]
    first, second, ours, denied = entries
    assert first.spec == "usb:cafe:4001:C0C0C0C0C0C0C0C0" and second.spec == "usb:cafe:4001:C1C1C1C1C1C1C1C1"
    assert "OS driver holds MIDI interface 1" in first.access and second.access == "can open"
    assert first.cables == "OUT 0x01 64 B: 1 cable, IN 0x81 64 B: 1 cable"
    assert first.ports == "2 external jacks, 1 CDC ACM port"
    assert ours.spec == "usb:1209:0001" and ours.rig_ids
    assert "or --rig board:C2C2C2C2C2C2C2C2" in how_to_point(ours)
    assert not denied.openable and "no permission" in denied.access and denied.spec == "usb:beef:0001"
    assert ",echo" in how_to_point(denied)
    assert all(link.vendor_requests == [] for link in links if isinstance(link, ForeignLink))


def test_rig_list_prints_the_usb_midi_devices(boards: list[LoopbackBoard],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    print_usb_midi_devices(LinkBackend([ForeignLink(boards[0], 0xCAFE, 0x4001)]))
    out = capsys.readouterr().out
    assert "USB-MIDI devices" in out and "cafe:4001" in out and "usb:cafe:4001" in out


def test_rig_list_says_when_there_is_none(capsys: pytest.CaptureFixture[str]) -> None:
    print_usb_midi_devices(LinkBackend([]))
    assert "USB-MIDI devices: none attached" in capsys.readouterr().out


def test_doctor_names_each_device_and_what_to_do_when_one_cannot_be_opened() -> None:
    assert check_usb_midi_devices(Probes(usb_midi_devices=lambda: [])).status == NOT_APPLICABLE
    fine = check_usb_midi_devices(Probes(usb_midi_devices=lambda: [("usb:cafe:4001", True, "can open")]))
    assert fine.status == OK and "usb:cafe:4001: can open" in fine.detail
    denied = check_usb_midi_devices(Probes(usb_midi_devices=lambda: [
        ("usb:cafe:4001", True, "can open"), ("usb:beef:0001", False, "no permission to open 1-4")]))
    assert denied.status == MISSING and "cannot open usb:beef:0001" in denied.detail
    assert "udev-rules" in denied.fix
