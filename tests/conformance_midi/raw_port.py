"""The `raw_midi` fixture and what the MIDI tests share: how long to wait for an echo, and sending
messages and waiting for them to come back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.checks.event_packets import check_event_packets
from rig.checks.findings import errors
from rig.client.raw_midi import RawUsbMidi
from rig.targets.raw_port import raw_midi_port
from rig.targets.registry import Target

ECHO_BASE_S = 5.0
"""Every wait for an echo allows this much (a loaded 2-core machine, the emulator's slow start)..."""
DIN_BYTE_S = 320e-6
"""...plus, per MIDI byte, the time one byte takes on a 31250-baud DIN cable (10 bits), twice over."""
QUIET_MS = 100
"""The device has sent everything once a read of this long returns nothing."""


def echo_timeout(midi_bytes: int) -> float:
    """How long to wait for `midi_bytes` to come back: generous, since only a positive signal (the
    expected count) ends the wait early."""
    return ECHO_BASE_S + 2 * DIN_BYTE_S * midi_bytes


def same_stream(got: list[bytes], sent: list[bytes]) -> str | None:
    """None when `got` is `sent`; else what differs first (the count, or the first message)."""
    if len(got) != len(sent):
        return f"{len(sent)} sent, {len(got)} came back"
    for index, (a, b) in enumerate(zip(got, sent, strict=True)):
        if a != b:
            return f"message {index}: sent {b.hex()}, got {a.hex()}"
    return None


@pytest.fixture
def raw_midi(rig_target: Target) -> Iterator[RawUsbMidi]:
    """Raw USB-MIDI on the target's first MS OUT/IN pair (rig.targets.raw_port: only that interface
    claimed, our board put in ECHO by the contract). After the test nothing may be left queued, and
    every packet the device sent must be legal (USB-MIDI 1.0 4)."""
    with raw_midi_port(rig_target) as (port, in_cables):
        port.drain(QUIET_MS)
        port.start_reader()  # echoes are read while a test writes: the device never backs up
        try:
            yield port
        finally:
            port.stop_reader()
        sent = list(port.transfers)
        left = port.drain(QUIET_MS)
    problems = errors(check_event_packets(sent, in_cables, f"EP 0x{port.in_address:02X}"))
    if left:
        pytest.fail(f"{left} message(s) still arrived after the test: not every event was accounted for",
                    pytrace=False)
    if problems:
        pytest.fail("illegal event packets from the device: " + "; ".join(map(str, problems)), pytrace=False)
