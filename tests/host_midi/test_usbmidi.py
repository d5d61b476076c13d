"""Unit tests of host.midi.usbmidi: packets for every CIN, SysEx splitting, the stateful encoder and
the decoder's counting and reporting (USB-MIDI 1.0 section 4)."""

from __future__ import annotations

import pytest

from host.midi.errors import MidiError, MidiValueError, UsbMidiPacketError
from host.midi.stream import parse
from host.midi.usbmidi import (
    CIN_LENGTH,
    UsbMidiDecoder,
    UsbMidiEncoder,
    decode_packet,
    encode_message,
    encode_messages,
    encode_packet,
)


def packets(data: bytes) -> list[bytes]:
    assert len(data) % 4 == 0
    return [data[i:i + 4] for i in range(0, len(data), 4)]


@pytest.mark.parametrize(("msg", "packet"), [
    (b"\x80\x3c\x40", b"\x08\x80\x3c\x40"),
    (b"\x9f\x3c\x7f", b"\x09\x9f\x3c\x7f"),
    (b"\xa1\x3c\x10", b"\x0a\xa1\x3c\x10"),
    (b"\xb2\x07\x64", b"\x0b\xb2\x07\x64"),
    (b"\xc3\x05", b"\x0c\xc3\x05\x00"),
    (b"\xd4\x50", b"\x0d\xd4\x50\x00"),
    (b"\xe5\x00\x40", b"\x0e\xe5\x00\x40"),
    (b"\xf1\x35", b"\x02\xf1\x35\x00"),
    (b"\xf3\x07", b"\x02\xf3\x07\x00"),
    (b"\xf2\x10\x20", b"\x03\xf2\x10\x20"),
    (b"\xf6", b"\x05\xf6\x00\x00"),
    (b"\xf8", b"\x0f\xf8\x00\x00"),
    (b"\xfa", b"\x0f\xfa\x00\x00"),
    (b"\xfb", b"\x0f\xfb\x00\x00"),
    (b"\xfc", b"\x0f\xfc\x00\x00"),
    (b"\xfe", b"\x0f\xfe\x00\x00"),
    (b"\xff", b"\x0f\xff\x00\x00"),
])
def test_encode_message_fixed_length(msg: bytes, packet: bytes) -> None:
    assert encode_message(msg) == packet
    assert encode_message(bytearray(msg), 0) == packet
    assert encode_message(memoryview(msg), cable=9) == bytes((0x90 | packet[0],)) + packet[1:]
    cable, cin, midi = decode_packet(packet)
    assert (cable, cin, midi) == (0, packet[0] & 0x0F, msg)
    assert type(encode_message(bytearray(msg))) is bytes


@pytest.mark.parametrize(("msg", "expected"), [
    (b"\xf0\xf7", [b"\x06\xf0\xf7\x00"]),
    (b"\xf0\x01\xf7", [b"\x07\xf0\x01\xf7"]),
    (b"\xf0\x01\x02\xf7", [b"\x04\xf0\x01\x02", b"\x05\xf7\x00\x00"]),
    (b"\xf0\x01\x02\x03\xf7", [b"\x04\xf0\x01\x02", b"\x06\x03\xf7\x00"]),
    (b"\xf0\x01\x02\x03\x04\xf7", [b"\x04\xf0\x01\x02", b"\x07\x03\x04\xf7"]),
    (b"\xf0\x01\x02\x03\x04\x05\xf7", [b"\x04\xf0\x01\x02", b"\x04\x03\x04\x05", b"\x05\xf7\x00\x00"]),
])
def test_encode_sysex_splits_and_ends_with_the_right_cin(msg: bytes, expected: list[bytes]) -> None:
    assert packets(encode_message(msg)) == expected
    assert packets(encode_message(msg, 3)) == [bytes((0x30 | p[0],)) + p[1:] for p in expected]


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 8, 64, 4096, 70000])
def test_encode_sysex_lengths_round_trip(length: int) -> None:
    msg = b"\xf0" + bytes(i % 128 for i in range(length)) + b"\xf7"
    wire = encode_message(msg, 5)
    assert len(wire) == 4 * ((len(msg) + 2) // 3)
    heads = {p[0] for p in packets(wire)[:-1]}
    assert heads <= {0x54}
    assert packets(wire)[-1][0] == 0x50 | (4 + (len(msg) - 1) % 3 + 1)
    decoder = UsbMidiDecoder()
    assert [(c, m.data) for c, m in decoder.messages(wire)] == [(5, msg)]


@pytest.mark.parametrize(("msg", "match"), [
    (b"", "empty"),
    (b"\x3c\x40", "starts no MIDI message"),
    (b"\xf4", "starts no MIDI message"),
    (b"\xf7", "starts no MIDI message"),
    (b"\x90\x3c", "must be 3 bytes"),
    (b"\x90\x3c\x40\x00", "must be 3 bytes"),
    (b"\x90\x3c\x80", "data byte"),
    (b"\xc0\x80", "data byte"),
    (b"\xf0\x01", "must end with F7"),
    (b"\xf0", "must end with F7"),
    (b"\xf0\x01\x90\xf7", "offset 2"),
])
def test_encode_message_rejects_bad_messages(msg: bytes, match: str) -> None:
    with pytest.raises(MidiValueError, match=match):
        encode_message(msg)


@pytest.mark.parametrize("cable", [-1, 16, True, "0", 1.0])
def test_bad_cable_raises_value_error_naming_cable(cable: object) -> None:
    with pytest.raises(ValueError, match="cable"):
        encode_message(b"\xf8", cable)  # type: ignore[arg-type]
    with pytest.raises(MidiError, match="cable"):
        UsbMidiEncoder(cable)  # type: ignore[arg-type]


def test_every_cin_encodes_and_decodes() -> None:
    for cable in (0, 7, 15):
        for cin in range(16):
            length = CIN_LENGTH[cin] if cin > 1 else 2
            midi = bytes(range(0x11, 0x11 + length))
            packet = encode_packet(cable, cin, midi)
            assert len(packet) == 4 and packet[0] == (cable << 4) | cin
            got_cable, got_cin, got_midi = decode_packet(packet)
            assert (got_cable, got_cin) == (cable, cin)
            assert got_midi == ((midi + b"\x00") if cin <= 1 else midi)


@pytest.mark.parametrize(("cin", "midi"), [
    (0x9, b"\x90\x01"), (0xF, b""), (0x0, b""), (0x1, b"1234"), (16, b"1"),
])
def test_encode_packet_rejects_wrong_lengths_and_cins(cin: int, midi: bytes) -> None:
    with pytest.raises(UsbMidiPacketError, match=r"(?i)cin"):
        encode_packet(0, cin, midi)


def test_decode_packet_rejects_wrong_size() -> None:
    with pytest.raises(UsbMidiPacketError, match="4 bytes, got 3"):
        decode_packet(b"\x09\x90\x01")


def test_decoder_ignores_padding_and_reports_reserved_cins() -> None:
    decoder = UsbMidiDecoder()
    wire = (b"\x09\x90\x3c\x40" + b"\x00\x00\x00\x00" + b"\x00\x01\x02\x03" + b"\x21\x90\x01\x02"
            + b"\x1f\xf8\x00\x00" + b"\x00\x00\x00\x00")
    assert decoder.feed(wire) == [(0, b"\x90\x3c\x40"), (1, b"\xf8")]
    c = decoder.counters
    assert (c.packets, c.delivered, c.padding, c.reserved_misc, c.reserved_cable) == (6, 2, 2, 1, 1)
    assert [str(p).split(" at ")[0] for p in decoder.problems] == ["packet 00010203", "packet 21900102"]


def test_decoder_reports_length_not_multiple_of_four() -> None:
    decoder = UsbMidiDecoder()
    assert decoder.feed(b"\x0f\xf8\x00\x00\x09\x90") == [(0, b"\xf8")]
    c = decoder.counters
    assert (c.bytes_in, c.packets, c.bad_length, c.trailing_bytes) == (6, 1, 1, 2)
    assert "not a multiple of 4" in str(decoder.problems[-1])


def test_strict_decoder_raises() -> None:
    with pytest.raises(UsbMidiPacketError, match="cable event"):
        UsbMidiDecoder(strict=True).feed(b"\x01\x01\x02\x03")
    with pytest.raises(UsbMidiPacketError, match="multiple of 4"):
        UsbMidiDecoder(strict=True).feed(b"\x0f\xf8\x00")


def test_decoder_messages_keeps_one_parser_per_cable() -> None:
    decoder = UsbMidiDecoder()
    a = encode_message(b"\xf0\x01\x02\x03\x04\x05\xf7", 1)
    b = encode_message(b"\xf0\x11\x12\x13\x14\xf7", 2)
    interleaved = b"".join(x for pair in zip(packets(a), packets(b), strict=False) for x in pair) + a[8:]
    got = [(c, m.data) for c, m in decoder.messages(interleaved)]
    assert got == [(2, b"\xf0\x11\x12\x13\x14\xf7"), (1, b"\xf0\x01\x02\x03\x04\x05\xf7")]
    assert decoder.cables == (1, 2)
    assert decoder.parser(1).counters.sysex == 1


def test_encoder_sysex_fragments_emit_packets_as_soon_as_determined() -> None:
    enc = UsbMidiEncoder(cable=2)
    assert enc.encode(b"\xf0\x01") == b""
    assert enc.pending_bytes == 2
    assert enc.encode(b"\x02") == b"\x24\xf0\x01\x02"
    assert enc.encode(b"\x03\x04\x05\x06\x07") == b"\x24\x03\x04\x05"
    assert enc.encode(b"\xf8") == b"\x2f\xf8\x00\x00"
    assert enc.encode(b"\xf7") == b"\x27\x06\x07\xf7"
    assert enc.pending_bytes == 0


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 8, 64, 4096, 70000])
def test_encoder_matches_encode_message_for_sysex_in_any_chunking(length: int) -> None:
    msg = b"\xf0" + bytes(i % 128 for i in range(length)) + b"\xf7"
    expected = encode_message(msg)
    for size in (1, 3, 7, 64, 1 << 20):
        if size < 3 and length > 4096:
            continue
        enc = UsbMidiEncoder()
        got = b"".join(enc.encode(msg[i:i + size]) for i in range(0, len(msg), size))
        assert got == expected, size
        assert enc.counters.packets == len(expected) // 4


def test_encoder_channel_messages_running_status_and_realtime() -> None:
    enc = UsbMidiEncoder()
    got = enc.encode(b"\x90\x3c\x40\x3d") + enc.encode(b"\xf8\x41\xc0\x01\x02\xf6\xf1\x01")
    assert packets(got) == [b"\x09\x90\x3c\x40", b"\x0f\xf8\x00\x00", b"\x09\x90\x3d\x41",
                            b"\x0c\xc0\x01\x00", b"\x0c\xc0\x02\x00", b"\x05\xf6\x00\x00",
                            b"\x02\xf1\x01\x00"]
    assert enc.counters.running_status == 2


def test_encoder_passes_unparseable_bytes_through_as_cin_f() -> None:
    enc = UsbMidiEncoder()
    got = enc.encode(b"\x01\xf7\xf4\x90\x3c\x80\x3c\xfd\x40\xf0\xf9\xf7")
    assert packets(got) == [b"\x0f\x01\x00\x00", b"\x0f\xf7\x00\x00", b"\x0f\xf4\x00\x00",
                            b"\x0f\x90\x00\x00", b"\x0f\x3c\x00\x00", b"\x0f\xfd\x00\x00",
                            b"\x08\x80\x3c\x40", b"\x0f\xf9\x00\x00", b"\x06\xf0\xf7\x00"]
    assert enc.counters.unparsed == 7


def test_encoder_truncated_sysex_reaches_the_receiver_truncated() -> None:
    wire = b"\xf0\x01\x02\x03\x04\x90\x3c\x40"
    enc = UsbMidiEncoder()
    got = enc.encode(wire)
    assert enc.counters.sysex_truncated == 1
    decoded = b"".join(m for _, m in UsbMidiDecoder().feed(got))
    assert decoded == wire
    assert [(m.data, m.truncated) for m in parse(decoded)] == [(b"\xf0\x01\x02\x03\x04", True),
                                                              (b"\x90\x3c\x40", False)]


def test_encoder_keeps_a_realtime_byte_after_the_status_that_cut_a_sysex() -> None:
    """#9: F0 80 FF parses as [F0 truncated, FF]; through encode -> decode -> parse it came back as
    [FF, F0 truncated], because the cutting 80 was held (waiting for its data) while FF went out."""
    wire = b"\xf0\x80\xff"
    enc = UsbMidiEncoder()
    sent = enc.encode(wire) + enc.flush()
    decoded = b"".join(m for _, m in UsbMidiDecoder().feed(sent))
    assert [(m.data, m.truncated) for m in parse(decoded)] == [(b"\xf0", True), (b"\xff", False)]
    assert parse(decoded) == parse(wire)


def test_encoder_flush_sends_held_bytes_and_forgets_running_status() -> None:
    enc = UsbMidiEncoder()
    assert enc.encode(b"\x90\x3c") == b""
    assert enc.flush() == b"\x0f\x90\x00\x00\x0f\x3c\x00\x00"
    assert enc.encode(b"\x3c\x40") == b"\x0f\x3c\x00\x00\x0f\x40\x00\x00"
    assert enc.flush() == b""


def test_encode_messages_concatenates() -> None:
    assert encode_messages([b"\xf8", b"\x90\x01\x02"], 1) == b"\x1f\xf8\x00\x00\x19\x90\x01\x02"


def test_encoder_and_decoder_reset() -> None:
    enc = UsbMidiEncoder()
    enc.encode(b"\x90\x3c\x40\x3d")
    enc.reset()
    assert enc.pending_bytes == 0 and enc.counters.bytes_in == 0
    assert enc.encode(b"\x40") == b"\x0f\x40\x00\x00"  # running status forgotten: stray data
    decoder = UsbMidiDecoder()
    decoder.messages(b"\x04\xf0\x01\x02\x01\x00\x00\x00")
    assert decoder.parser(0).pending_bytes == 3 and decoder.problems
    decoder.reset()
    assert decoder.cables == () and not decoder.problems and decoder.counters.bytes_in == 0
    assert decoder.parser(0).pending_bytes == 0
