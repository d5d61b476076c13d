"""Finding a device again after it left the bus and enumerated again by itself (docs/protocol.md,
*Re-enumeration*): it is a new device to the host, known again only by the VID:PID and serial number
it had. pyusb offers no hotplug callback, so the bus is polled."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import usb.core

REATTACH_TIMEOUT_S = 10.0
"""How long a target's `reattach` waits for its device to come back (a firmware reboot takes ~1 s)."""
POLL_S = 0.05


def identity_of(dev: usb.core.Device, serial: str) -> str:
    """'VID:PID serial S' ('serial (none)' without one): how a device is known again."""
    return f"{dev.idVendor:04x}:{dev.idProduct:04x} serial {serial or '(none)'}"


def find_again(present: Callable[[], Sequence[tuple[usb.core.Device, str]]], before: str,
               timeout_s: float) -> tuple[usb.core.Device | None, list[str]]:
    """Poll `present()` (the devices that answer to a target's selector, with their identities) until
    one is `before`: (that device, []); after `timeout_s`, (None, the identities present then)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = present()
        for device, identity in now:
            if identity == before:
                return device, []
        if time.monotonic() > deadline:
            return None, [identity for _, identity in now]
        time.sleep(POLL_S)
