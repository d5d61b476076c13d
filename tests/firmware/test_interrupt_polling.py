"""The emulator's host polls an interrupt IN endpoint once per bInterval frames (USB 2.0 5.7.4; the
interval is the endpoint descriptor's bInterval in ms at full speed, 9.6.6), as a host controller
schedules it: firmware that arms packets back to back sees each taken bInterval ms after the last,
in emulated time. Shown with the plain device's interrupt_in variant (its MIDI IN endpoint declared
interrupt, bInterval 4) beside the plain image, whose bulk IN packets go at once."""

from __future__ import annotations

import itertools
from pathlib import Path

from rig.checks.parse import parse_configuration
from rig.links.device_view import COMPLETE, DeviceEvent
from rig.links.emulator import EmulatorLink

from .conftest import T, need_bridge

EP_OUT, EP_IN = 0x03, 0x82
EVENTS = 32
"""Echoed Note On events: 128 bytes, four full 32-byte IN packets and the ZLP that ends them."""
FRAME_NS = 1_000_000
"""One full-speed frame (1 ms)."""


def in_packet_times(image: Path) -> tuple[int, list[int]]:
    """(the IN endpoint's bInterval as its descriptor says, emulated ns at which the host took each IN
    packet of one echoed burst, read by a single read that waits throughout)."""
    with EmulatorLink(image) as link:
        config = link.control(0x80, 6, 0x200, 0, 255, T)
        assert isinstance(config, bytes)
        interval = next(ep.bInterval for alt in parse_configuration(config).alt_settings
                        for ep in alt.endpoints if ep.bEndpointAddress == EP_IN)
        link.control(0x00, 9, 1, 0, b"", T)
        taken: list[int] = []

        def sink(event: DeviceEvent) -> None:
            if event.event == COMPLETE and event.endpoint == EP_IN:
                taken.append(event.emulated_ns)

        link.add_event_sink(sink)
        burst = b"".join(bytes((0x09, 0x90, n, 100)) for n in range(EVENTS))
        assert link.write(EP_OUT, burst, T) == len(burst)
        got = link.read(EP_IN, 4 * len(burst), T)  # ends at the ZLP after the fourth full packet
        assert got == burst
        link.remove_event_sink(sink)
        return interval, taken


def test_interrupt_in_is_polled_every_binterval_frames(firmware_build: Path) -> None:
    """USB 2.0 5.7.4: the host takes one packet per bInterval frames: consecutive packets the device
    armed at once go exactly bInterval ms apart (not sooner, and not a frame later)."""
    need_bridge()
    interval, taken = in_packet_times(firmware_build / "plain_interrupt_in.uf2")
    assert interval == 4
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert len(taken) == 5, f"expected 4 full packets and a ZLP, the host took {len(taken)}"
    assert all(interval * FRAME_NS <= gap < (interval + 1) * FRAME_NS for gap in gaps), (
        f"IN packets taken {[g / 1e6 for g in gaps]} ms apart; bInterval is {interval} ms")


def test_bulk_in_is_not_held_to_an_interval(firmware_build: Path) -> None:
    """The same burst from the bulk plain image goes without waiting for frames (bulk has no polling
    interval, USB 2.0 5.8.4): the interval seen above comes from the descriptor, not from the echo."""
    need_bridge()
    interval, taken = in_packet_times(firmware_build / "plain.uf2")
    assert interval == 0
    gaps = [b - a for a, b in itertools.pairwise(taken)]
    assert len(taken) == 5 and max(gaps) < FRAME_NS, f"bulk IN packets {[g / 1e6 for g in gaps]} ms apart"
