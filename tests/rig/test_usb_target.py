"""The `usb:` target on a software bus: the loopback board presented as a device that is not ours
(another VID:PID, vendor requests STALLed and recorded, OS drivers bound as Linux binds them), so
discovery, probing and the claim/re-attach of OS drivers run their real code without hardware."""

from __future__ import annotations

import errno
from collections.abc import Iterator

import pytest
import usb.core

from rig.client.board import Board
from rig.client.errors import TransferStalled
from rig.client.raw_midi import InterfaceClaim, RawMidiError
from rig.errors import TargetError
from rig.links.foreign import ForeignLink
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard
from rig.targets.factory import make_target
from rig.targets.midi_options import MidiOptions
from rig.targets.registry import Feature, TargetSpec
from rig.targets.usb_device import BadUsbSpec, UsbDeviceNotFound, UsbDeviceTarget, UsbSelector

FOREIGN = "usb:cafe:4001,bus=loopback"
AC, MS, CDC_COMM, CDC_DATA = 0, 1, 3, 4
"""Our board's interfaces a Linux host gives class drivers (the vendor interface 2 gets none)."""


@pytest.fixture
def foreign() -> Iterator[UsbDeviceTarget]:
    target = make_target(FOREIGN)
    assert isinstance(target, UsbDeviceTarget)
    with target:
        yield target


@pytest.mark.parametrize(("text", "fields"), [
    ("cafe:4001", {"vid": 0xCAFE, "pid": 0x4001}),
    ("1209:1:SER01,echo", {"vid": 0x1209, "pid": 1, "serial": "SER01", "midi": MidiOptions(echo=True)}),
    ("3-1.4.2,loop,cable=3", {"bus": 3, "ports": (1, 4, 2), "midi": MidiOptions(loop=True, cable=3)}),
    ("cafe:4001,bus=emulator", {"software_bus": "emulator"}),
    ("cafe:4001,listen=2.5", {"midi": MidiOptions(listen_s=2.5)}),
])
def test_usb_specs_parse(text: str, fields: dict[str, object]) -> None:
    selector = UsbSelector.parse(text)
    assert {k: getattr(selector, k) for k in fields} == fields


@pytest.mark.parametrize(("text", "words"), [
    (None, "needs a device"), ("cafe", "neither VID:PID"), ("12345:1", "neither"), ("1-x", "neither"),
    ("cafe:4001,echoes", "unknown option 'echoes'"), ("cafe:4001,cable=16", "unknown option"),
    ("cafe:4001,bus=board", "unknown option"), ("cafe:4001,listen=0", "unknown option 'listen=0'"),
    ("cafe:4001,listen=soon", "unknown option"),
])
def test_bad_usb_specs_are_named_errors(text: str | None, words: str) -> None:
    with pytest.raises(BadUsbSpec, match=words) as info:
        UsbSelector.parse(text)
    assert "usb:VID:PID" in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TargetError)


def test_a_foreign_device_gets_features_from_its_descriptors_and_no_vendor_request(
        foreign: UsbDeviceTarget) -> None:
    assert foreign.features == {Feature.USB, Feature.USB_MIDI}
    assert foreign.expected_features == foreign.features
    assert foreign.probe is not None and not foreign.probe.ours
    assert "not asked any vendor request" in foreign.probe.identity
    assert "',echo'" in foreign.lacks(Feature.MIDI_ECHO)
    assert "not our board" in foreign.lacks(Feature.CONTRACT)
    assert "libusb only" in foreign.lacks(Feature.MIDI_OS)
    facts = foreign.describe()
    assert facts["ids"] == "cafe:4001" and "MIDI interface 1" in facts["declares"]
    assert foreign.foreign_vendor_requests() == []
    dev = foreign.usb_device()
    assert (dev.idVendor, dev.idProduct) == (0xCAFE, 0x4001)


def test_the_recorder_sees_a_vendor_request_to_a_foreign_device(foreign: UsbDeviceTarget) -> None:
    """The check the suites rely on can fail: GET_INFO to the foreign device is STALLed and recorded."""
    board = Board(foreign.usb_device())
    try:
        with pytest.raises(TransferStalled):
            board.info()
    finally:
        board.close()
    assert len(foreign.foreign_vendor_requests()) == 1
    assert "bRequest 0x01" in foreign.foreign_vendor_requests()[0]


def test_echo_and_loop_declarations_grant_midi_echo() -> None:
    for option in ("echo", "loop"):
        with make_target(f"{FOREIGN},{option}") as target:
            assert Feature.MIDI_ECHO in target.features


def test_our_ids_and_get_info_make_it_our_board() -> None:
    with make_target("usb:1209:0001,bus=loopback") as target:
        assert {Feature.CONTRACT, Feature.FRAMES, Feature.MIDI_ECHO, Feature.USB_MIDI} <= target.features
        assert target.describe()["identity"].startswith("our board (GET_INFO")


def test_our_ids_without_the_contract_are_not_our_board() -> None:
    """The rig's IDs alone do not make a device ours: one that STALLs GET_INFO stays foreign."""
    link = ForeignLink(LoopbackBoard(console_pty=False), 0x1209, 0x0001, refuse_vendor=True)
    target = UsbDeviceTarget(TargetSpec("usb", "1209:0001"), backend=LinkBackend([link]))
    try:
        with target:
            assert Feature.CONTRACT not in target.features
            assert target.probe is not None and "GET_INFO failed" in target.probe.identity
        assert len(link.vendor_requests) == 1, "GET_INFO is the one vendor request, sent for the rig's IDs"
    finally:
        link.close()


def test_a_device_is_chosen_by_where_it_is_plugged_in() -> None:
    with make_target("usb:1-1,bus=loopback") as target:
        assert target.usb_device().port_numbers == (1,)
    with pytest.raises(UsbDeviceNotFound, match=r"bus 1 port 2 .*attached: 1209:0001 at 1-1"):
        make_target("usb:1-2,bus=loopback").open()


def test_several_matches_ask_for_a_serial_and_a_wrong_serial_lists_what_is_there() -> None:
    boards = [LoopbackBoard(bytes([0xB0 + i]) * 8, console_pty=False) for i in range(2)]
    backend = LinkBackend([ForeignLink(b, 0xCAFE, 0x4001) for b in boards])
    try:
        with pytest.raises(TargetError, match=r"2 devices match cafe:4001.*add :SERIAL"):
            UsbDeviceTarget(TargetSpec("usb", "cafe:4001"), backend=backend).open()
        with UsbDeviceTarget(TargetSpec("usb", "cafe:4001:b1b1b1b1b1b1b1b1"), backend=backend) as target:
            assert target.usb_device().serial_number == "B1B1B1B1B1B1B1B1"
        with pytest.raises(UsbDeviceNotFound, match="serial B0B0B0B0B0B0B0B0"):
            UsbDeviceTarget(TargetSpec("usb", "cafe:4001:ffff"), backend=backend).open()
    finally:
        for b in boards:
            b.close()


def test_only_the_claimed_interface_loses_its_os_driver_and_gets_it_back_even_after_a_failure(
        foreign: UsbDeviceTarget) -> None:
    link = foreign.link
    assert link is not None and link.bound() == {AC, MS, CDC_COMM, CDC_DATA}
    dev = foreign.usb_device()
    with pytest.raises(RuntimeError, match="the test failed"), InterfaceClaim(dev, [MS]) as claim:
        assert claim.detached == [MS]
        assert link.bound() == {AC, CDC_COMM, CDC_DATA}, "the CDC and audio-control drivers stay"
        raise RuntimeError("the test failed")
    assert link.bound() == {AC, MS, CDC_COMM, CDC_DATA}
    assert link.drivers_detached == [MS]
    with InterfaceClaim(dev, [2]) as claim:  # the vendor interface has no OS driver: nothing detached
        assert claim.detached == []
    assert link.drivers_detached == [MS]


def test_a_claim_that_fails_gives_back_what_it_took(foreign: UsbDeviceTarget,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """libusb refuses to claim a missing interface (NOT_FOUND): what was detached before goes back."""
    link = foreign.link
    assert link is not None
    dev = foreign.usb_device()
    backend = dev._ctx.backend
    claim = backend.claim_interface

    def refuse_missing(handle: object, intf: int) -> None:
        if intf == 9:
            raise usb.core.USBError("Entity not found", -5, errno.ENOENT)
        claim(handle, intf)

    monkeypatch.setattr(backend, "claim_interface", refuse_missing)
    with pytest.raises(RawMidiError, match="claiming interface"):
        InterfaceClaim(dev, [MS, 9]).acquire()
    assert link.bound() == {AC, MS, CDC_COMM, CDC_DATA}


def test_closing_the_target_stops_the_software_board() -> None:
    target = make_target(FOREIGN)
    target.open()
    dev = target.usb_device()
    target.close()
    target.close()
    with pytest.raises(TargetError, match="not open"):
        target.usb_device()
    with pytest.raises(usb.core.USBError):
        dev.ctrl_transfer(0x80, 6, 0x0100, 0, 18)
