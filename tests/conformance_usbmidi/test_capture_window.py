"""A device that only sends (a controller) is judged on what it sends by itself: every IN endpoint is
captured for a window without sending anything, and every packet must be legal USB-MIDI (section 4).
`usb:...,listen=S` (or `emulator:IMAGE,listen=S`) sets the window (play the controller during it);
then silence is a failure, as nothing could be judged."""

from __future__ import annotations

import time

import pytest
import usb.core

from rig.checks.event_packets import EventStreamChecker
from rig.checks.findings import errors
from rig.targets.registry import Target

from .test_event_packets import configured_endpoints

pytestmark = pytest.mark.needs("usb", "usb-midi")

DEFAULT_WINDOW_S = 1.0
POLL_MS = 50


def test_what_the_device_sends_by_itself_is_legal(std_device: usb.core.Device, rig_target: Target) -> None:
    """USB-MIDI 1.0 4 (table 4-1): unprompted output — CINs matching their bytes, SysEx split legally,
    only declared cables — over the capture window."""
    asked = rig_target.midi_options.listen_s
    window = asked or DEFAULT_WINDOW_S
    _, ins = configured_endpoints(std_device)
    checkers = {ep.address: EventStreamChecker(ep.cables, f"EP 0x{ep.address:02X}") for ep in ins}
    problems = []
    deadline = time.monotonic() + window
    while time.monotonic() < deadline:
        for ep in ins:
            try:
                data = bytes(std_device.read(ep.address, ep.endpoint.wMaxPacketSize, POLL_MS))
            except usb.core.USBTimeoutError:
                continue
            problems += errors(checkers[ep.address].feed(data))
    packets = sum(c.packets for c in checkers.values())
    assert not problems, f"{packets} packets captured; illegal ones:\n" + "\n".join(map(str, problems))
    if asked and packets == 0:
        pytest.fail(f"nothing arrived on {', '.join(f'0x{a:02X}' for a in checkers)} in the {window:g} s "
                    f"window: play the controller while the window is open", pytrace=False)
