"""MIDI 1.0 messages through a device that sends back what it receives, over raw USB-MIDI 1.0: every
message type, running status, real-time bytes inside messages and SysEx, and the "one message
behind" bug (a stack that sends a message only when the next one arrives)."""

from __future__ import annotations

import pytest

from host.midi import encode as m
from rig.client.raw_midi import RawUsbMidi

from .raw_port import echo_timeout

pytestmark = pytest.mark.needs("usb", "usb-midi", "midi-echo")

EVERY_TYPE: list[tuple[str, bytes]] = [
    ("note off", m.note_off(0, 60, 64)),
    ("note on", m.note_on(15, 127, 1)),
    ("poly pressure", m.poly_pressure(3, 0, 127)),
    ("control change", m.control_change(9, 7, 100)),
    ("program change", m.program_change(1, 127)),
    ("channel pressure", m.channel_pressure(14, 64)),
    ("pitch bend", m.pitch_bend(7, 8191)),
    ("MTC quarter frame", m.mtc_quarter_frame(7, 15)),
    ("song position", m.song_position(16383)),
    ("song select", m.song_select(127)),
    ("tune request", m.tune_request()),
    ("timing clock", m.timing_clock()),
    ("start", m.start()),
    ("continue", m.continue_()),
    ("stop", m.stop()),
    ("active sensing", m.active_sensing()),
    ("system reset", m.system_reset()),
    ("SysEx", m.sysex(b"\x7d\x01\x02\x03")),
]
"""MIDI 1.0 table I (channel voice), table III/IV (system common, real-time) and SysEx: one of each."""


def round_trip(port: RawUsbMidi, data: bytes, expected: list[bytes]) -> list[bytes]:
    """Send `data`, wait until as many messages as expected came back (or the timeout); their bytes."""
    port.send(data)
    got = port.receive(len(expected), echo_timeout(len(data)))
    return [msg.data for cable, msg in got if cable == port.cable]


@pytest.mark.parametrize(("name", "message"), EVERY_TYPE, ids=[n for n, _ in EVERY_TYPE])
def test_every_message_type_comes_back_unchanged(raw_midi: RawUsbMidi, name: str, message: bytes) -> None:
    """MIDI 1.0 (message formats) through USB-MIDI 1.0 4 (table 4-1): the message returns byte for byte."""
    assert round_trip(raw_midi, message, [message]) == [message], f"{name} did not come back unchanged"


def test_all_message_types_in_one_stream_keep_their_order(raw_midi: RawUsbMidi) -> None:
    """MIDI 1.0: a stream of every type comes back whole and in order (one write, many packets)."""
    messages = [msg for _, msg in EVERY_TYPE]
    assert round_trip(raw_midi, b"".join(messages), messages) == messages


def test_running_status(raw_midi: RawUsbMidi) -> None:
    """MIDI 1.0 running status: data bytes after a channel message reuse its status; each comes back as
    a complete message (USB-MIDI 1.0 4: event packets always carry the status byte)."""
    stream = bytes((0x93, 60, 100, 62, 100, 64, 0, 0xB3, 7, 1, 10, 127))
    expected = [bytes((0x93, 60, 100)), bytes((0x93, 62, 100)), bytes((0x93, 64, 0)), bytes((0xB3, 7, 1)),
                bytes((0xB3, 10, 127))]
    assert round_trip(raw_midi, stream, expected) == expected


def test_real_time_inside_a_message(raw_midi: RawUsbMidi) -> None:
    """MIDI 1.0: real-time bytes may appear between a message's bytes and do not disturb it; they
    come back first, the interrupted message whole after them."""
    stream = bytes((0x90, 0xF8, 60, 0xFE, 100, 0xE0, 0xFA, 0, 0xFC, 64))
    expected = [b"\xf8", b"\xfe", bytes((0x90, 60, 100)), b"\xfa", b"\xfc", bytes((0xE0, 0, 64))]
    assert round_trip(raw_midi, stream, expected) == expected


def test_real_time_inside_sysex(raw_midi: RawUsbMidi) -> None:
    """MIDI 1.0: real-time bytes inside a System Exclusive message leave it intact (USB-MIDI 1.0 4:
    the real-time byte travels as its own CIN 0xF packet between the SysEx packets)."""
    stream = bytes((0xF0, 0x7D, 1, 2, 0xF8, 3, 4, 5, 0xF8, 6, 0xF7))
    expected = [b"\xf8", b"\xf8", bytes((0xF0, 0x7D, 1, 2, 3, 4, 5, 6, 0xF7))]
    got = round_trip(raw_midi, stream, expected)
    assert sorted(got) == sorted(expected), f"got {[g.hex() for g in got]}"
    assert got[-1] == expected[-1], "the SysEx must end after the real-time bytes sent inside it"


ALONE: list[tuple[str, bytes]] = [
    ("one-byte", m.tune_request()), ("two-byte", m.program_change(0, 5)), ("three-byte", m.note_on(0, 60, 1)),
    ("real-time", m.timing_clock()),
    *[(f"SysEx of {n} bytes", m.sysex(bytes(range(n - 2)))) for n in (2, 3, 4, 5, 6, 7, 47, 48, 49, 50)],
]
"""Messages sent alone: each packet kind, and SysEx whose packets end exactly at and around 16
packets (a full 64-byte transfer)."""


@pytest.mark.parametrize(("name", "message"), ALONE, ids=[n for n, _ in ALONE])
def test_no_message_is_held_back_until_the_next(raw_midi: RawUsbMidi, name: str, message: bytes) -> None:
    """USB-MIDI 1.0 4: a device sends an event as soon as it has it. A stack "one message behind" sends
    a message only when the next arrives (or a packet fills): each message is sent alone here and must
    come back before anything else is sent. The SysEx lengths end in each CIN 5/6/7 and around a
    full 64-byte transfer."""
    for repeat in range(3):
        got = round_trip(raw_midi, message, [message])
        assert got == [message], (f"{name} (repeat {repeat}) did not come back alone within "
                                  f"{echo_timeout(len(message)):.1f} s: got {[g.hex() for g in got]}; a "
                                  f"device that holds the last message until the next one arrives fails this")
        raw_midi.clear()


BURST_SIZES = (2, 3, 7, 8, 9, 15, 16, 17, 33)
"""Messages per write: a few inside one packet, exactly filling a 32- and a 64-byte packet (8 and 16
event packets), one more than that, and over two packets."""


def test_every_message_of_a_burst_comes_back_the_last_too(raw_midi: RawUsbMidi) -> None:
    """MIDI 1.0 / USB-MIDI 1.0 4: every message sent is echoed, the last of a burst too. Each burst is
    one write of channel messages ending in an ordinary Note Off, so a device that drops the last event
    of a packet or a transfer loses a message while every packet it sends stays legal: only counting
    what came back catches it."""
    for size in BURST_SIZES:
        burst = [m.note_on(i % 16, 40 + i, 100) for i in range(size - 1)] + [m.note_off(0, 40, 0)]
        got = round_trip(raw_midi, b"".join(burst), burst)
        lost = [i for i, msg in enumerate(burst) if msg not in got]
        assert got == burst, (f"burst of {size} messages in one write: {len(got)} came back; lost message(s) "
                              f"{lost} of 0..{size - 1} ({', '.join(burst[i].hex() for i in lost)}); got "
                              f"{[g.hex() for g in got]}")
        raw_midi.clear()
