"""Test messages: no running status possible, seq recoverable, SysEx sizes, USB-MIDI round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from host.midi.usbmidi import UsbMidiDecoder, encode_message
from rig.measure.messages import MessageError, frame_payload, maker, short_message, sysex_message


@given(st.integers(0, 10**6))
def test_consecutive_short_messages_never_share_a_status_byte(seq: int) -> None:
    a, b = short_message(seq), short_message(seq + 1)
    assert a[0] != b[0]
    assert all(x < 0x80 for x in a[1:]) and a[2] >= 1  # velocity 0 would read as note off


def test_short_messages_are_distinct_within_the_window() -> None:
    assert len({short_message(n) for n in range(128 * 127)}) == 128 * 127


@given(st.integers(0, 2**21 - 1), st.integers(6, 300))
def test_sysex_has_the_chosen_size_and_only_data_bytes_inside(seq: int, size: int) -> None:
    m = sysex_message(seq, size)
    assert len(m) == size and m[0] == 0xF0 and m[-1] == 0xF7
    assert all(b < 0x80 for b in m[1:-1])


@given(st.integers(0, 2**21 - 1), st.integers(6, 200), st.integers(0, 15))
def test_sysex_survives_usb_midi_split_across_reads(seq: int, size: int, cable: int) -> None:
    m = sysex_message(seq, size)
    packets = encode_message(m, cable)
    decoder = UsbMidiDecoder()
    cut = (len(packets) // 8) * 4  # two bulk reads, split at a packet boundary
    got = decoder.messages(packets[:cut]) + decoder.messages(packets[cut:])
    assert [(c, msg.data) for c, msg in got] == [(cable, m)]


@given(st.integers(0, 10**6))
def test_short_messages_survive_usb_midi(seq: int) -> None:
    m = short_message(seq)
    assert [msg.data for _, msg in UsbMidiDecoder().messages(encode_message(m) + bytes(4))] == [m]


def test_frame_payload_sizes_and_errors() -> None:
    assert len(frame_payload(5, 8)) == 8 and len(frame_payload(5, 1000)) == 1000
    assert frame_payload(5, 100) != frame_payload(6, 100)
    with pytest.raises(MessageError, match="below the minimum"):
        frame_payload(1, 4)
    with pytest.raises(ValueError, match="unknown message kind"):
        maker("long")
