"""A board's serial number as reports show it: read, or `<unreadable: ...>` naming the request and
the cause (a timeout by name), never pyusb's misleading "no langid" nor an empty cell (issue #13: a
merged pool report once lacked an emulated board's serial, its LANGID read having timed out)."""

from __future__ import annotations

import array
import struct

import usb.core

from rig.targets.discovery import describe_board
from rig.targets.factory import make_target

GET_DESCRIPTOR = 6


class StubDevice:
    """Answers GET_DESCRIPTOR(string) from a table; `stall` or `slow` names the index that fails."""

    idVendor = 0x1209
    idProduct = 0x0001
    bcdDevice = 0x0100
    iSerialNumber = 3
    default_timeout = 1000

    def __init__(self, slow: int | None = None, stall: int | None = None) -> None:
        self.slow, self.stall = slow, stall

    def ctrl_transfer(self, **setup: int) -> array.array[int]:  # pyusb's usb.control calls it with keywords
        assert (setup["bmRequestType"], setup["bRequest"], setup["wValue"] >> 8) == (0x80, GET_DESCRIPTOR, 3)
        index = setup["wValue"] & 0xFF
        if index == self.slow:
            raise usb.core.USBTimeoutError("Operation timed out", errno=110)
        if index == self.stall:
            raise usb.core.USBError("Pipe error", errno=32)
        text = struct.pack("<H", 0x0409) if index == 0 else "E000000000000003".encode("utf-16-le")
        return array.array("B", bytes([2 + len(text), 3]) + text)  # what pyusb's backends return


def serial(device: StubDevice) -> str:
    return describe_board(device, "emulator:uid=E000000000000003", "stub")["serial"]


def test_the_serial_is_read() -> None:
    assert serial(StubDevice()) == "E000000000000003"


def test_a_langid_read_that_times_out_is_named() -> None:
    text = serial(StubDevice(slow=0))
    assert text.startswith("<unreadable: reading the LANGID table (string descriptor 0) timed out"), text
    assert "no langid" not in text


def test_a_serial_string_read_that_fails_is_named() -> None:
    assert serial(StubDevice(slow=3)).startswith(
        "<unreadable: reading string descriptor 3 (iSerialNumber) timed out")
    assert serial(StubDevice(stall=3)).startswith(
        "<unreadable: reading string descriptor 3 (iSerialNumber) failed: [Errno 32] Pipe error")


def test_a_loopback_reports_its_serial() -> None:
    target = make_target("loopback:00000000000001AB")
    target.open()
    try:
        assert target.describe()["serial"] == "00000000000001AB"
    finally:
        target.close()
