"""Hypothesis properties of host.midi: encode -> parse round trips in any chunking, USB-MIDI packet
round trips on random cables, and fuzzing of the parsers that read device input (never raise,
books always balance)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from host.midi.encode import check_message, encode_stream
from host.midi.errors import MidiValueError
from host.midi.stream import MidiMessage, MidiStreamParser
from host.midi.usbmidi import UsbMidiDecoder, UsbMidiEncoder, encode_message, encode_messages

from .books import assert_balanced

DATA = st.integers(0, 127)
CHANNEL_STATUS = st.integers(0x80, 0xEF)
REALTIME = st.sampled_from([0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF])


@st.composite
def channel_message(draw: st.DrawFn) -> bytes:
    status = draw(CHANNEL_STATUS)
    count = 1 if 0xC0 <= status <= 0xDF else 2
    return bytes((status, *(draw(DATA) for _ in range(count))))


@st.composite
def system_common(draw: st.DrawFn) -> bytes:
    status = draw(st.sampled_from([0xF1, 0xF2, 0xF3, 0xF6]))
    count = {0xF1: 1, 0xF2: 2, 0xF3: 1, 0xF6: 0}[status]
    return bytes((status, *(draw(DATA) for _ in range(count))))


SYSEX = st.builds(lambda p: b"\xf0" + bytes(p) + b"\xf7", st.lists(DATA, max_size=200))
MESSAGE = st.one_of(
    channel_message(), channel_message(), channel_message(), system_common(), SYSEX,
    REALTIME.map(lambda b: bytes((b,))),
)
MESSAGES = st.lists(MESSAGE, max_size=40)
SIZES = st.lists(st.integers(1, 64), min_size=1, max_size=8)
GARBAGE = st.binary(max_size=600)
"""Arbitrary bytes, biased by hypothesis towards edge values (00, 7F, 80, F0, F7, FF...)."""


def pieces(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    """`data` cut into pieces whose lengths cycle through `sizes`."""
    i = 0
    k = 0
    while i < len(data):
        yield data[i:i + sizes[k % len(sizes)]]
        i += sizes[k % len(sizes)]
        k += 1


def parse_in_pieces(parser: MidiStreamParser, data: bytes, sizes: list[int]) -> list[MidiMessage]:
    out: list[MidiMessage] = []
    for piece in pieces(data, sizes):
        out += parser.feed(piece)
    return out


@given(MESSAGES, st.booleans(), SIZES)
def test_encode_stream_then_parse_in_any_chunking_gives_the_messages(
    messages: list[bytes], running_status: bool, sizes: list[int]
) -> None:
    wire = encode_stream(messages, running_status=running_status)
    parser = MidiStreamParser()
    got = parse_in_pieces(parser, wire, sizes)
    assert [m.data for m in got] == messages
    assert all(m.complete and not m.truncated for m in got)
    assert parser.counters.dropped_bytes() == 0 and parser.pending_bytes == 0
    assert_balanced(parser, got)


@given(MESSAGES, st.lists(st.tuples(st.integers(0, 10_000), REALTIME), max_size=10), SIZES)
def test_realtime_bytes_anywhere_never_break_the_messages(
    messages: list[bytes], inserts: list[tuple[int, int]], sizes: list[int]
) -> None:
    wire = bytearray(encode_stream(messages, running_status=True))
    for position, rt in inserts:
        wire.insert(position % (len(wire) + 1), rt)
    parser = MidiStreamParser()
    got = parse_in_pieces(parser, bytes(wire), sizes)
    assert [m.data for m in got if not m.is_realtime] == [m for m in messages if m[0] < 0xF8]
    assert sum(m.is_realtime for m in got) == len(inserts) + sum(m[0] >= 0xF8 for m in messages)
    assert_balanced(parser, got)


@given(MESSAGES, st.integers(1, 70), SIZES)
def test_sysex_chunk_pieces_join_to_the_whole_messages(
    messages: list[bytes], chunk: int, sizes: list[int]
) -> None:
    wire = encode_stream(messages)
    parser = MidiStreamParser(sysex_chunk=chunk)
    got = parse_in_pieces(parser, wire, sizes)
    assert all(len(m.data) <= chunk for m in got if m.is_sysex)
    joined: list[bytes] = []
    open_piece = b""
    for m in got:
        if not m.complete:
            open_piece += m.data
        elif m.is_sysex:
            joined.append(open_piece + m.data)
            open_piece = b""
        else:
            joined.append(m.data)
    assert joined == messages
    assert_balanced(parser, got)


CABLED = st.lists(st.tuples(st.integers(0, 15), MESSAGE), max_size=30)


@given(CABLED, SIZES)
def test_messages_to_packets_to_messages_on_random_cables(
    cabled: list[tuple[int, bytes]], sizes: list[int]
) -> None:
    wire = b"".join(encode_message(msg, cable) for cable, msg in cabled)
    decoder = UsbMidiDecoder()
    got: list[tuple[int, bytes]] = []
    for piece in pieces(wire, [4 * s for s in sizes]):
        got += [(cable, m.data) for cable, m in decoder.messages(piece)]
    assert got == cabled
    c = decoder.counters
    assert c.packets == c.delivered == len(wire) // 4
    assert not decoder.problems


@given(MESSAGES, st.booleans(), SIZES, st.integers(0, 15))
def test_stateful_encoder_matches_encode_message(
    messages: list[bytes], running_status: bool, sizes: list[int], cable: int
) -> None:
    encoder = UsbMidiEncoder(cable)
    wire = b"".join(encoder.encode(p) for p in pieces(encode_stream(messages, running_status=running_status),
                                                      sizes))
    assert wire == b"".join(encode_message(m, cable) for m in messages)
    assert encoder.pending_bytes == 0 and encoder.counters.unparsed == 0


@given(st.lists(st.one_of(MESSAGE, st.binary(max_size=4)), max_size=30), st.integers(0, 15))
def test_encode_messages_is_encode_message_for_each(messages: list[bytes], cable: int) -> None:
    """The batch's inline path gives what encode_message gives for each message, and for bytes that
    are no valid message raises what encode_message raises."""
    try:
        expected = b"".join(encode_message(m, cable) for m in messages)
    except MidiValueError as exc:
        with pytest.raises(MidiValueError, match=re.escape(str(exc))):
            encode_messages(messages, cable)
    else:
        assert encode_messages(messages, cable) == expected
        assert encode_messages([bytearray(m) for m in messages], cable) == expected


@given(GARBAGE, SIZES)
def test_stateful_encoder_carries_any_byte_stream_faithfully(garbage: bytes, sizes: list[int]) -> None:
    """Whatever the stream, the receiver parses the same messages from the packets as from the bytes."""
    encoder = UsbMidiEncoder(3)
    wire = b"".join(encoder.encode(p) for p in pieces(garbage, sizes)) + encoder.flush()
    decoder = UsbMidiDecoder()
    via_usb = [(cable, m.data, m.truncated) for cable, m in decoder.messages(wire)]
    direct = [(3, m.data, m.truncated) for m in MidiStreamParser().feed(garbage)]
    assert via_usb == direct
    assert decoder.counters.delivered == encoder.counters.packets
    # Every input byte went out in a packet, plus the status bytes running status left out.
    assert decoder.counters.midi_bytes == encoder.counters.bytes_in + encoder.counters.running_status


EDGE_BYTES = st.lists(st.sampled_from([0x40, 0x80, 0xC0, 0xF0, 0xF2, 0xF6, 0xF7, 0xF9, 0xFF]),
                      min_size=3, max_size=60).map(bytes)
"""Streams of one byte of each kind the state machine turns on (data, 3- and 2-byte channel status,
SysEx start and end, system common, undefined and defined real-time), so orderings like F0 80 FF
(#9) come up in about 6 % of examples, where arbitrary bytes hit them in well under 1 %."""


@example(b"\xf0\x80\xff", [64])
@example(b"\xf0\x90\x40\x50\x41\x51", [64])  # the cutting status, then running status
@given(st.one_of(EDGE_BYTES, GARBAGE), SIZES)
def test_encode_decode_parse_gives_the_same_messages_in_the_same_order(data: bytes, sizes: list[int]) -> None:
    """parse(bytes) == parse(decode(encode(bytes))), in order, with and without the end-of-stream flush,
    and no byte is sent twice."""
    encoder = UsbMidiEncoder()
    wire = b"".join(encoder.encode(p) for p in pieces(data, sizes)) + encoder.flush()
    decoder = UsbMidiDecoder()
    decoded = b"".join(midi for _, midi in decoder.feed(wire))
    direct, via_usb = MidiStreamParser(), MidiStreamParser()
    assert via_usb.feed(decoded) == direct.feed(data)
    assert via_usb.flush() == direct.flush()
    # Every byte went out once, plus the status bytes running status left out: none sent twice.
    assert decoder.counters.midi_bytes == encoder.counters.bytes_in + encoder.counters.running_status


@given(GARBAGE, SIZES, st.one_of(st.none(), st.integers(1, 40)))
def test_parser_fuzz_never_raises_and_balances(garbage: bytes, sizes: list[int], chunk: int | None) -> None:
    parser = MidiStreamParser(sysex_chunk=chunk)
    got = parse_in_pieces(parser, garbage, sizes)
    assert_balanced(parser, got)
    assert parser.counters.bytes_in == len(garbage)
    got += parser.flush()
    assert parser.pending_bytes == 0
    assert_balanced(parser, got)
    whole = MidiStreamParser().feed(garbage)
    if chunk is None:
        assert got[:len(whole)] == whole
    for m in whole:
        if m.truncated:
            assert m.data[0] == 0xF0 and m.data[1:].isascii()
        else:
            assert check_message(m.data) == m.data


@given(GARBAGE, SIZES)
def test_packet_decoder_fuzz_never_raises_and_balances(garbage: bytes, sizes: list[int]) -> None:
    decoder = UsbMidiDecoder(max_problems=4)
    delivered = 0
    midi_bytes = 0
    for piece in pieces(garbage, sizes):
        for _, midi in decoder.feed(piece):
            delivered += 1
            midi_bytes += len(midi)
    c = decoder.counters
    assert c.bytes_in == len(garbage) == 4 * c.packets + c.trailing_bytes
    assert c.packets == c.delivered + c.padding + c.reserved_misc + c.reserved_cable
    assert (c.delivered, c.midi_bytes) == (delivered, midi_bytes)
    assert len(decoder.problems) <= 4


@settings(max_examples=50)
@given(GARBAGE)
def test_decoder_messages_fuzz_never_raises(garbage: bytes) -> None:
    decoder = UsbMidiDecoder(sysex_chunk=16)
    for cable, message in decoder.messages(garbage):
        assert 0 <= cable <= 15 and message.data
    for cable in decoder.cables:
        parser = decoder.parser(cable)
        assert parser.counters.bytes_in == parser.counters.bytes_out + parser.counters.dropped_bytes() \
            + parser.pending_bytes - parser.counters.running_status
