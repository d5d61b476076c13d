"""The expect-style verbs themselves: what they accept, what they return, and that a failure names
what arrived instead (the `midi` and `console` fixtures on every --rig target that has them)."""

from __future__ import annotations

import re
from typing import Any

import mido
import pytest

from rig.client.console import ConsoleTimeout
from rig.miniport.expect import BadMidiMessage, MidiExpectTimeout, midi_bytes


def test_midi_bytes_accepts_bytes_ints_and_mido() -> None:
    note = b"\x90\x3c\x64"
    assert midi_bytes(note) == midi_bytes([0x90, 60, 100]) == midi_bytes(bytearray(note)) == note
    assert midi_bytes(mido.Message("note_on", note=60, velocity=100)) == note


@pytest.mark.parametrize("bad", [b"", b"\x3c\x64", [0x90, 300], "note_on", 7])
def test_midi_bytes_refuses_what_is_not_midi(bad: Any) -> None:
    with pytest.raises(BadMidiMessage, match="not"):
        midi_bytes(bad)


@pytest.mark.needs("midi-os")
def test_expect_skips_to_the_match_and_keeps_what_it_skipped(midi: Any) -> None:
    midi.send([0xB0, 7, 1], [0xB0, 7, 2], [0x90, 60, 1])
    got = midi.expect([0x90, 60, 1], timeout=2)
    assert got == mido.Message("note_on", note=60, velocity=1)
    assert [msg.value for msg in midi.before] == [1, 2]


def arrived(midi: Any, count: int, within_s: float = 60.0) -> None:
    """Return once `count` messages wait in the miniport, untaken. The failure tests below judge what
    a 0.5 s window says of what arrived; on a loaded machine an echo can take longer than that, so
    they first wait for it by this positive signal, and the window then only has to time out."""
    collector = midi.miniport.messages
    with collector.cond:
        assert collector.cond.wait_for(lambda: len(collector) >= count, within_s), \
            f"{len(collector)} of {count} message(s) came back within {within_s:g} s"


@pytest.mark.needs("midi-os")
def test_expect_failure_names_what_arrived_instead(midi: Any) -> None:
    midi.send(b"\xb0\x07\x05")
    arrived(midi, 1)
    with pytest.raises(MidiExpectTimeout, match=re.escape("expected 90 3c 64 within 0.5 s; arrived instead "
                                                          "1 message(s): b0 07 05")):
        midi.expect(b"\x90\x3c\x64", timeout=0.5)


@pytest.mark.needs("midi-os")
def test_receive_failure_names_what_arrived(midi: Any) -> None:
    midi.send(b"\xc0\x05")
    arrived(midi, 1)
    with pytest.raises(MidiExpectTimeout, match=re.escape("expected 2 message(s) within 0.5 s; arrived "
                                                          "1 message(s): c0 05")):
        midi.receive(2, timeout=0.5)


@pytest.mark.needs("console")
def test_console_expect_returns_the_match_and_keeps_the_rest(console: Any) -> None:
    console.write(b"version\n")
    found = console.expect(r"firmware (\d+)\.(\d+)", timeout=2)
    assert found[1].isdigit()
    assert console.expect(r"contract \d+", timeout=2)  # what followed the first match is still there


@pytest.mark.needs("console")
def test_console_expect_failure_shows_what_arrived(console: Any) -> None:
    console.write(b"version\n")
    console.expect(r"(?=firmware[^\n]*\n)", timeout=60)  # the whole line is in, and still unread
    with pytest.raises(ConsoleTimeout, match=r"'no such thing' did not appear within 0.5 s; received "
                                             r"instead .*firmware"):
        console.expect("no such thing", timeout=0.5)


@pytest.mark.needs("midi-os", "usb")
def test_midi_beside_board_is_counted_in_the_books(midi: Any, board: Any) -> None:
    """With `board` in the same test, what `midi` sends and receives counts in the board's books (the
    plugin compares them with the device's counters after the test)."""
    midi.send(b"\x90\x3c\x64", b"\xf0\x7d\x01\x02\x03\xf7")
    assert len(midi.receive(2, timeout=2)) == 2
    assert board.host.midi_packets_tx == board.host.midi_packets_rx == 3
