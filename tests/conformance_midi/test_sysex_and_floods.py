"""SysEx of every length up to beyond 1 KiB, and floods where every event is accounted for, through a
device that sends back what it receives (raw USB-MIDI 1.0)."""

from __future__ import annotations

import pytest

from host.midi import encode as m
from rig.client.raw_midi import RawUsbMidi

from .raw_port import echo_timeout, same_stream

pytestmark = pytest.mark.needs("usb", "usb-midi", "midi-echo")

SWEEP = [*range(0, 10), 19, 20, 21, 61, 62, 63, 64, 125, 126, 127, 128, 253, 254, 255, 256, 509, 510, 511,
         512,
         1021, 1022, 1023, 1024, 1025, 2046]
"""Payload lengths: every CIN 5/6/7 ending, the packet and transfer boundaries, and to 2 KiB (the
message is two bytes longer: F0 ... F7; 1022 makes it exactly 1 KiB)."""
FLOOD = 2000


@pytest.mark.parametrize("payload", SWEEP)
def test_sysex_length_sweep(raw_midi: RawUsbMidi, payload: int) -> None:
    """MIDI 1.0 System Exclusive (any length) split into USB-MIDI 1.0 SysEx packets (CIN 4, ended by
    CIN 5/6/7; section 4): the message comes back whole, byte for byte, and nothing else."""
    message = m.sysex(bytes(i % 0x80 for i in range(payload)))
    raw_midi.send(message)
    got = raw_midi.receive(1, echo_timeout(len(message)))
    assert [(cable, msg.data) for cable, msg in got] == [(raw_midi.cable, message)], (
        f"SysEx of {len(message)} bytes: got {len(got)} message(s) of lengths "
        f"{[len(x.data) for _, x in got]}")


def flood(count: int) -> list[bytes]:
    """`count` distinct channel messages: every channel, notes and velocities moving, CCs between."""
    out = []
    for i in range(count):
        channel = i % 16
        out.append(m.control_change(channel, i % 120, (i >> 4) % 128) if i % 5 == 4
                   else m.note_on(channel, i % 128, 1 + (i >> 7) % 127))
    return out


def test_flood_every_event_accounted_for(raw_midi: RawUsbMidi) -> None:
    """A burst of FLOOD messages written as fast as the device takes them: every one comes back once, in
    order (MIDI 1.0 keeps the order of a stream); nothing is lost, duplicated or invented."""
    messages = flood(FLOOD)
    for start in range(0, FLOOD, 100):
        raw_midi.send(b"".join(messages[start:start + 100]))
    got = raw_midi.receive(FLOOD, echo_timeout(3 * FLOOD))
    problem = same_stream([msg.data for _, msg in got], messages)
    assert problem is None, problem


def test_interleaved_sysex_and_notes_flood(raw_midi: RawUsbMidi) -> None:
    """SysEx (60 bytes each) alternating with notes and real-time clocks, 200 of each: every message
    accounted for, each SysEx whole (USB-MIDI 1.0 4: a cable's SysEx packets are not interrupted by
    its channel messages)."""
    messages: list[bytes] = []
    for i in range(200):
        messages += [m.sysex(bytes((i % 128,)) * 58), m.note_on(i % 16, i % 128, 64), m.timing_clock()]
    for start in range(0, len(messages), 30):
        raw_midi.send(b"".join(messages[start:start + 30]))
    got = raw_midi.receive(len(messages), echo_timeout(sum(map(len, messages))))
    problem = same_stream([msg.data for _, msg in got], messages)
    assert problem is None, problem
