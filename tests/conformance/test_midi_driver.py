"""Conformance, MIDI in driver mode: the MXF graph through the USB-MIDI miniport on the raw USB-MIDI
endpoints of every target with USB.

Every channel and system message, running status, real-time bytes inside channel messages and SysEx,
SysEx from 2 to 64 KiB (around 3, 4, 8, 64 and the allocator's 4096-byte buffers), a 10,000-note
flood with every sequence number accounted for, and the device's TRANSFORM, SOURCE and SINK modes.
Both MXF allocators run in checked mode (double free, foreign event, use after free, and leaks
named with where each event or buffer was taken). Each test stops the miniport inside the test and
checks both allocator pools are full; the plugin then compares device and host packet counters.

Clauses checked (each test's docstring names its own): MIDI 1.0; USB-MIDI 1.0 4 (table 4-1);
docs/protocol.md, MIDI modes; kernel-streaming.md A2.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from host import midi as m
from host.mxf.errors import DoubleFree, ForeignEvent, LeakError, UseAfterFree
from rig import contract as c
from rig.client.board import Board
from rig.miniport.capture import CapturedMessage
from rig.miniport.usb_midi import UsbMidiMiniport

pytestmark = pytest.mark.needs("usb")

BUFFER_SIZE = 4096
"""GetBufferSize of the miniport's allocators (ReactOS: PAGE_SIZE)."""
SYSEX_LENGTHS = [2, 3, 4, 5, 7, 8, 9, 63, 64, 65, BUFFER_SIZE - 1, BUFFER_SIZE, BUFFER_SIZE + 1,
                 2 * BUFFER_SIZE + 1, 65536]
"""Whole-message lengths (F0 .. F7 included); each crosses a packet, USB packet or buffer boundary."""
FLOOD = 10_000


@contextmanager
def driver(board: Board, mode: c.MidiMode = c.MidiMode.ECHO, **mode_args: int) -> Iterator[UsbMidiMiniport]:
    """The board in `mode` with nothing pending, and a started USB-MIDI miniport; on exit the
    miniport is stopped and every event must be back in its pool."""
    board.claim_midi()  # first: an OS driver would otherwise get the echoes or SOURCE output
    board.set_midi_mode(mode, **mode_args)  # empties the IN queue (docs/protocol.md): nothing to drain
    miniport = UsbMidiMiniport(board, checked=True)
    allocators = (miniport.render_allocator, miniport.capture_allocator)
    assert all(a.is_checked for a in allocators), "the suite runs the MXF allocators in checked mode"
    miniport.start()
    try:
        yield miniport
    finally:
        miniport.stop()
    for allocator in allocators:
        allocator.assert_balanced()  # LeakError names each leaked event or buffer and where it was taken
    assert miniport.books() == [], "MXF books not balanced"
    assert miniport.errors() == []


def channel_messages(channel: int) -> list[bytes]:
    """One of each channel voice message on `channel`, extremes of every data byte."""
    return [m.note_off(channel, 0, 0), m.note_on(channel, 127, 127), m.poly_pressure(channel, 64, 1),
            m.control_change(channel, 120, 0), m.program_change(channel, 127), m.channel_pressure(channel, 0),
            m.pitch_bend(channel, -8192), m.pitch_bend(channel, 8191), m.pitch_bend(channel, 0)]


SYSTEM_MESSAGES = [m.mtc_quarter_frame(7, 15), m.song_position(16383), m.song_select(127), m.tune_request(),
                   m.sysex(b""), m.sysex(b"\x7d\x01"), m.timing_clock(), m.start(), m.continue_(), m.stop(),
                   m.active_sensing(), m.system_reset()]


def datas(messages: list[CapturedMessage]) -> list[bytes]:
    return [msg.data for msg in messages]


@pytest.mark.parametrize("channel", range(16))
def test_every_channel_message(board: Board, channel: int) -> None:
    """MIDI 1.0 (channel voice messages, data bytes at their extremes) through USB-MIDI 1.0 4 (table 4-1, CINs
    0x8..0xE) and docs/protocol.md, MIDI modes (ECHO): each comes back unchanged through the MXF graph."""
    sent = channel_messages(channel)
    with driver(board) as mp:
        mp.send(sent)
        assert datas(mp.receive(len(sent))) == sent


def test_every_system_message(board: Board) -> None:
    """MIDI 1.0 (system common, System Exclusive and real-time messages) through USB-MIDI 1.0 4 (table 4-1,
    CINs 0x2, 0x3, 0x4..0x7, 0xF) and docs/protocol.md, MIDI modes (ECHO): each comes back unchanged."""
    with driver(board) as mp:
        mp.send(SYSTEM_MESSAGES)
        assert datas(mp.receive(len(SYSTEM_MESSAGES))) == SYSTEM_MESSAGES


def test_running_status_is_expanded(board: Board) -> None:
    """MIDI 1.0 running status: data bytes after a channel message reuse its status; each comes back as a
    complete message (USB-MIDI 1.0 4: an event packet always carries its status byte)."""
    sent = [b"\x92\x30\x10", b"\x31\x11", b"\x32\x12", b"\xe5\x00\x40", b"\x7f\x7f", b"\xc1\x05", b"\x06"]
    expected = [b"\x92\x30\x10", b"\x92\x31\x11", b"\x92\x32\x12", b"\xe5\x00\x40", b"\xe5\x7f\x7f",
                b"\xc1\x05", b"\xc1\x06"]
    with driver(board) as mp:
        mp.send(sent)
        assert datas(mp.receive(len(expected))) == expected


def test_running_status_cancelled_by_system_common(board: Board) -> None:
    """MIDI 1.0: a System Common message (Song Select) cancels running status; the status sent after it is the
    one the following data bytes reuse."""
    sent = [b"\x90\x3c\x40", m.song_select(1), b"\x90\x3d\x40", b"\x3e\x40"]
    expected = [b"\x90\x3c\x40", m.song_select(1), b"\x90\x3d\x40", b"\x90\x3e\x40"]
    with driver(board) as mp:
        mp.send(sent)
        assert datas(mp.receive(len(expected))) == expected


@pytest.mark.parametrize("rt", [0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF])
def test_real_time_inside_channel_messages(board: Board, rt: int) -> None:
    """MIDI 1.0: a real-time byte may come between a message's bytes and does not disturb it; it comes back
    first (USB-MIDI 1.0 4: its own CIN 0xF packet), the interrupted message whole after it."""
    sent = [bytes((0x93, rt, 0x40, 0x50)), bytes((0xE0, 0x01, rt, 0x02))]
    expected = [bytes((rt,)), b"\x93\x40\x50", bytes((rt,)), b"\xe0\x01\x02"]
    with driver(board) as mp:
        mp.send(sent)
        assert datas(mp.receive(len(expected))) == expected


def test_real_time_inside_sysex(board: Board) -> None:
    """MIDI 1.0: real-time bytes inside a System Exclusive message leave it intact (USB-MIDI 1.0 4: each
    travels as its own CIN 0xF packet between the SysEx packets)."""
    body = bytes(range(1, 40))
    interleaved = b"\xf0" + body[:3] + b"\xf8" + body[3:20] + b"\xfe\xf8" + body[20:] + b"\xfc\xf7"
    with driver(board) as mp:
        mp.send([interleaved])
        got = datas(mp.receive(5))
        assert got[-1] == m.sysex(body)
        assert got[:-1] == [b"\xf8", b"\xfe", b"\xf8", b"\xfc"]


@pytest.mark.parametrize("length", SYSEX_LENGTHS)
def test_sysex_lengths(board: Board, length: int) -> None:
    """MIDI 1.0 (System Exclusive, F0 .. F7) through USB-MIDI 1.0 4 (CIN 0x4 start/continue, 0x5..0x7 end):
    SysEx from 2 bytes to 64 KiB, crossing packet, USB packet and the MXF allocator's 4096-byte buffer
    (kernel-streaming.md A2) boundaries, comes back whole, and the note after it too."""
    message = m.sysex(bytes((i * 5 + length) % 128 for i in range(length - 2)))
    assert len(message) == length
    with driver(board) as mp:
        mp.send([message, m.note_on(0, 1, 1)])
        got = mp.receive(2, 30)
        assert datas(got) == [message, m.note_on(0, 1, 1)]
        assert mp.render_sink.bytes_rendered == length + 3


def encode_seq(seq: int) -> bytes:
    """A note-on carrying a sequence number: channel, note and velocity together (unique < 260,096)."""
    return m.note_on(seq % 16, (seq // 16) % 128, 1 + (seq // 2048) % 127)


def decode_seq(message: bytes) -> int:
    status, note, velocity = message
    return (status & 0x0F) + 16 * note + 2048 * (velocity - 1)


def test_note_flood_every_event_accounted_for(board: Board) -> None:
    """docs/protocol.md, MIDI modes (ECHO sends every good packet back; nothing is dropped): 10,000 notes all
    come back in order, capture time stamps never go backwards, and the device counts as many packets in as
    out."""
    sent = [encode_seq(seq) for seq in range(FLOOD)]
    with driver(board) as mp:
        mp.send(sent)
        got = mp.receive(FLOOD, 60)
        seqs = [decode_seq(msg.data) for msg in got]
        missing = sorted(set(range(FLOOD)) - set(seqs))
        assert not missing, f"{len(missing)} events lost, first {missing[:10]}"
        assert seqs == list(range(FLOOD)), "events reordered or repeated"
        assert mp.render_allocator.stats().gets == FLOOD
        stamps = [msg.time_100ns for msg in got]
        assert stamps == sorted(stamps), "capture time stamps went backwards"
    stats = board.stats()
    assert stats.midi_rx_packets == stats.midi_tx_packets == FLOOD


@pytest.mark.parametrize("transpose", [7, -12, 100])
def test_transform_mode_the_device_does_the_work(board: Board, transpose: int) -> None:
    """docs/protocol.md, MIDI modes (TRANSFORM: CIN 0x8/0x9/0xA get (note + transpose) mod 128, every other
    packet unchanged)."""
    notes = [m.note_on(0, 60, 100), m.note_off(1, 120, 0), m.poly_pressure(2, 5, 9)]
    others = [m.control_change(0, 7, 60), m.pitch_bend(3, 100), m.program_change(4, 60)]
    with driver(board, c.MidiMode.TRANSFORM, transpose=transpose) as mp:
        mp.send(notes + others)
        got = datas(mp.receive(len(notes) + len(others)))
    expected = [bytes((msg[0], (msg[1] + transpose) % 128, msg[2])) for msg in notes] + others
    assert got == expected
    assert got[:3] != notes, "the notes came back unchanged: no device transformed them"


def test_source_mode_count_and_order(board: Board) -> None:
    """docs/protocol.md, MIDI modes (SOURCE: `count` pairs of note-on seq & 0x7F, velocity 1 + ((seq >> 7) %
    127), and note-off; a note-on of velocity 0 is also taken as the note-off, MIDI 1.0)."""
    count = 300
    with driver(board, c.MidiMode.SOURCE, rate_hz=20_000, count=count) as mp:
        got = datas(mp.receive(2 * count, 30))
    for seq in range(count):
        note, velocity = seq & 0x7F, 1 + ((seq >> 7) % 127)
        assert got[2 * seq] == m.note_on(0, note, velocity), f"event {2 * seq}"
        assert got[2 * seq + 1] in (m.note_off(0, note, 0), m.note_on(0, note, 0)), f"event {2 * seq + 1}"


def test_sink_mode_device_counts_everything(board: Board) -> None:
    """docs/protocol.md, MIDI modes (SINK: input is counted; nothing is sent): 500 notes and a 102-byte SysEx
    are 534 event packets (USB-MIDI 1.0 4: three SysEx bytes per packet), all counted in midi_rx_packets, none
    sent."""
    sent = [encode_seq(seq) for seq in range(500)] + [m.sysex(bytes(100))]
    with driver(board, c.MidiMode.SINK) as mp:
        packets = mp.send(sent)
        assert mp.take() == []
    stats = board.stats()
    assert stats.midi_rx_packets == packets == 500 + 34
    assert stats.midi_tx_packets == 0


def test_the_allocators_are_checked(board: Board) -> None:
    """kernel-streaming.md A2 (an event goes back to its own allocator, which never frees anything twice):
    checked mode catches a double PutMessage, a foreign event, a use after free and a leak, the leak with
    where the event was taken (then the books are put right again)."""
    with driver(board) as mp:
        render, capture = mp.render_allocator, mp.capture_allocator
        evt = render.get_message()
        assert evt is not None
        render.put_message(evt)
        with pytest.raises(DoubleFree):
            render.put_message(evt)
        with pytest.raises(UseAfterFree):
            evt.cb_event = 3
        foreign = capture.get_message()
        with pytest.raises(ForeignEvent):
            render.put_message(foreign)
        with pytest.raises(LeakError, match=r"test_the_allocators_are_checked"):
            capture.assert_balanced()
        capture.put_message(foreign)
