"""Reading a device's IN endpoint through pyusb until it goes quiet: what several suites and the
differential test need to collect everything a device had to send."""

from __future__ import annotations

import usb.core


def drain(dev: usb.core.Device, endpoint: int, length: int = 64, timeout_ms: int = 100) -> bytes:
    """Every byte `endpoint` sends, read `length` at a time, until a read times out."""
    out = bytearray()
    while True:
        try:
            out += bytes(dev.read(endpoint, length, timeout_ms))
        except usb.core.USBTimeoutError:
            return bytes(out)
