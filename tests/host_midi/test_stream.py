"""Unit tests of host.midi.stream: every message kind, running status, real-time inside messages and
SysEx, SysEx lengths, dropped bytes, truncation, sysex_chunk, and the byte accounting."""

from __future__ import annotations

import dataclasses

import pytest

from host.midi.errors import MidiValueError
from host.midi.stream import MidiMessage, MidiStreamParser, parse

from .books import assert_balanced


def datas(messages: list[MidiMessage]) -> list[bytes]:
    return [m.data for m in messages]


def feed_bytewise(parser: MidiStreamParser, data: bytes) -> list[MidiMessage]:
    out: list[MidiMessage] = []
    for b in data:
        out += parser.feed(bytes((b,)))
    return out


EVERY_KIND = [
    (b"\x80\x3c\x40", "note_off", 0),
    (b"\x9f\x3c\x7f", "note_on", 15),
    (b"\xa1\x3c\x10", "poly_pressure", 1),
    (b"\xb2\x07\x64", "control_change", 2),
    (b"\xc3\x05", "program_change", 3),
    (b"\xd4\x50", "channel_pressure", 4),
    (b"\xe5\x00\x40", "pitch_bend", 5),
    (b"\xf0\x7e\x7f\x06\x01\xf7", "sysex", None),
    (b"\xf1\x35", "mtc_quarter_frame", None),
    (b"\xf2\x10\x20", "song_position", None),
    (b"\xf3\x07", "song_select", None),
    (b"\xf6", "tune_request", None),
    (b"\xf8", "clock", None),
    (b"\xfa", "start", None),
    (b"\xfb", "continue", None),
    (b"\xfc", "stop", None),
    (b"\xfe", "active_sensing", None),
    (b"\xff", "reset", None),
]


@pytest.mark.parametrize(("wire", "kind", "channel"), EVERY_KIND)
def test_every_message_kind_parses_whole_and_bytewise(wire: bytes, kind: str, channel: int | None) -> None:
    for feed in (lambda p, d: p.feed(d), feed_bytewise):
        parser = MidiStreamParser()
        got = feed(parser, wire)
        assert datas(got) == [wire]
        assert got[0].kind == kind
        assert got[0].channel == channel
        assert got[0].status == wire[0]
        assert got[0].complete and not got[0].truncated
        assert_balanced(parser, got)


def test_all_kinds_in_one_stream() -> None:
    wire = b"".join(w for w, _, _ in EVERY_KIND)
    assert datas(parse(wire)) == [w for w, _, _ in EVERY_KIND]


def test_message_is_frozen_and_hashable() -> None:
    m = MidiMessage(b"\x90\x01\x02")
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.data = b""  # type: ignore[misc]
    assert m == MidiMessage(bytearray(b"\x90\x01\x02"))
    assert hash(m) == hash(MidiMessage(b"\x90\x01\x02"))
    assert MidiMessage(b"\xf0\x01", complete=False) != MidiMessage(b"\xf0\x01")
    assert m.is_realtime is False and m.is_sysex is False
    assert MidiMessage(b"\x01\x02\xf7").status == 0xF0  # SysEx continuation piece


def test_running_status_in() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\x3c\x40\x3e\x40\x40\x00\xc1\x05\x06\x07")
    assert datas(got) == [b"\x90\x3c\x40", b"\x90\x3e\x40", b"\x90\x40\x00",
                          b"\xc1\x05", b"\xc1\x06", b"\xc1\x07"]
    assert parser.counters.running_status == 4
    assert_balanced(parser, got)


def test_running_status_across_feeds() -> None:
    parser = MidiStreamParser()
    got: list[MidiMessage] = []
    for piece in (b"\xb0\x07\x10\x07", b"\x11", b"\x07", b"\x12"):
        got += parser.feed(piece)
    assert datas(got) == [b"\xb0\x07\x10", b"\xb0\x07\x11", b"\xb0\x07\x12"]
    assert parser.running_status == 0xB0
    assert_balanced(parser, got)


def test_system_common_cancels_running_status_realtime_does_not() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\x3c\x40\xf8\x3d\x40\xf3\x01\x3e\x40")
    assert datas(got) == [b"\x90\x3c\x40", b"\xf8", b"\x90\x3d\x40", b"\xf3\x01"]
    assert parser.counters.dropped_data == 2
    assert parser.running_status == 0
    assert_balanced(parser, got)


@pytest.mark.parametrize("cancel", [b"\xf6", b"\xf0\xf7", b"\xf4", b"\xf5", b"\xf7"])
def test_every_system_common_byte_cancels_running_status(cancel: bytes) -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\x3c\x40" + cancel + b"\x3d\x40")
    assert datas(got)[0] == b"\x90\x3c\x40"
    assert parser.counters.dropped_data == 2
    assert_balanced(parser, got)


def test_realtime_inside_channel_message() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\xf8\x3c\xfe\x40")
    assert datas(got) == [b"\xf8", b"\xfe", b"\x90\x3c\x40"]
    assert parser.counters.realtime == 2
    assert_balanced(parser, got)


def test_realtime_inside_running_status_message_split_across_feeds() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\x3c\x40\x3d") + parser.feed(b"\xf8") + parser.feed(b"\x41")
    assert datas(got) == [b"\x90\x3c\x40", b"\xf8", b"\x90\x3d\x41"]
    assert_balanced(parser, got)


def test_realtime_inside_sysex_does_not_break_it() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\xf0\x01\xf8\x02\xfa\xfb\x03\xfc\xf7")
    assert datas(got) == [b"\xf8", b"\xfa", b"\xfb", b"\xfc", b"\xf0\x01\x02\x03\xf7"]
    assert parser.counters.sysex == 1 and parser.counters.realtime == 4
    assert_balanced(parser, got)


def test_undefined_realtime_inside_sysex_is_dropped_without_breaking_it() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\xf0\x01\xf9\x02\xfd\xf7")
    assert datas(got) == [b"\xf0\x01\x02\xf7"]
    assert parser.counters.dropped_undefined == 2
    assert_balanced(parser, got)


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 8, 64, 4096, 70000])
def test_sysex_lengths(length: int) -> None:
    payload = bytes(i % 128 for i in range(length))
    wire = b"\xf0" + payload + b"\xf7"
    whole = MidiStreamParser()
    got = whole.feed(wire)
    assert datas(got) == [wire]
    assert got[0].kind == "sysex" and got[0].complete
    assert_balanced(whole, got)
    if length <= 4096:
        bytewise = MidiStreamParser()
        assert datas(feed_bytewise(bytewise, wire)) == [wire]


def test_stray_data_is_dropped_and_counted() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x01\x02\x03\x90\x3c\x40")
    assert datas(got) == [b"\x90\x3c\x40"]
    assert parser.counters.dropped_data == 3
    assert_balanced(parser, got)


@pytest.mark.parametrize("undefined", [0xF4, 0xF5, 0xF9, 0xFD])
def test_undefined_status_is_dropped_and_counted(undefined: int) -> None:
    parser = MidiStreamParser()
    got = parser.feed(bytes((undefined,)) + b"\x90\x3c\x40")
    assert datas(got) == [b"\x90\x3c\x40"]
    assert parser.counters.dropped_undefined == 1
    assert_balanced(parser, got)


def test_undefined_realtime_inside_channel_message_does_not_break_it() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\x3c\xf9\x40")
    assert datas(got) == [b"\x90\x3c\x40"]
    assert_balanced(parser, got)


def test_stray_eox_is_dropped_and_counted() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\xf7\x90\x3c\x40\xf7")
    assert datas(got) == [b"\x90\x3c\x40"]
    assert parser.counters.dropped_eox == 2
    assert_balanced(parser, got)


@pytest.mark.parametrize("cut", [b"\x90\x3c\x40", b"\xf0\x05\xf7", b"\xf6", b"\xf2\x01\x02"])
def test_sysex_cut_by_status_is_delivered_truncated(cut: bytes) -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\xf0\x01\x02" + cut)
    assert datas(got) == [b"\xf0\x01\x02", cut]
    assert got[0].truncated and got[0].complete and got[0].kind == "sysex"
    assert not got[1].truncated
    assert parser.counters.sysex_truncated == 1
    assert_balanced(parser, got)


def test_sysex_cut_by_undefined_status_is_truncated_and_status_dropped() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\xf0\x01\xf4\x02\xf7")
    assert datas(got) == [b"\xf0\x01"]
    assert got[0].truncated
    c = parser.counters
    assert (c.sysex_truncated, c.dropped_undefined, c.dropped_data, c.dropped_eox) == (1, 1, 1, 1)
    assert_balanced(parser, got)


def test_partial_message_cut_by_status_is_dropped_and_counted() -> None:
    parser = MidiStreamParser()
    got = parser.feed(b"\x90\x3c\x80\x3c\x40\xf2\x01\xc0\x01")
    assert datas(got) == [b"\x80\x3c\x40", b"\xc0\x01"]
    assert parser.counters.dropped_partial == 4
    assert_balanced(parser, got)


def test_split_at_every_boundary() -> None:
    wire = b"\x90\x3c\x40\x3d\xf8\x41\xf0\x01\x02\xfe\x03\xf7\xe0\x00\x40\xf2\x05\x06\xc0\x01\x02"
    expected = datas(parse(wire))
    for cut in range(len(wire) + 1):
        parser = MidiStreamParser()
        got = parser.feed(wire[:cut]) + parser.feed(memoryview(wire)[cut:])
        assert datas(got) == expected, cut
        assert_balanced(parser, got)


def test_pending_bytes_and_reset() -> None:
    parser = MidiStreamParser()
    assert parser.feed(bytearray(b"\x90\x3c\xf0")) == []
    assert parser.pending_bytes == 1 and parser.counters.dropped_partial == 2
    assert parser.feed(b"\x01\x02") == []
    assert parser.pending_bytes == 3
    parser.reset()
    assert parser.pending_bytes == 0 and parser.counters.bytes_in == 0 and parser.running_status == 0
    assert parser.feed(b"\x01\xf7") == []
    assert parser.counters.dropped_data == 1 and parser.counters.dropped_eox == 1


@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 7, 64])
@pytest.mark.parametrize("length", [0, 1, 2, 5, 6, 62, 63, 64, 200])
def test_sysex_chunk_pieces(chunk: int, length: int) -> None:
    wire = b"\xf0" + bytes(i % 128 for i in range(length)) + b"\xf7"
    for feed in (lambda p, d: p.feed(d), feed_bytewise):
        parser = MidiStreamParser(sysex_chunk=chunk)
        got = feed(parser, wire)
        assert b"".join(datas(got)) == wire
        assert all(0 < len(m.data) <= chunk for m in got)
        assert [m.complete for m in got] == [False] * (len(got) - 1) + [True]
        assert not any(m.truncated for m in got)
        assert all(m.is_sysex for m in got)
        assert parser.counters.sysex == 1 and parser.counters.sysex_pieces == len(got) - 1
        assert_balanced(parser, got)


def test_sysex_chunk_never_holds_more_than_chunk() -> None:
    parser = MidiStreamParser(sysex_chunk=512)
    parser.feed(b"\xf0")
    for _ in range(128):
        parser.feed(bytes(500))
        assert parser.pending_bytes <= 512
    got = parser.feed(b"\xf7")
    assert got[-1].data.endswith(b"\xf7") and got[-1].complete


def test_sysex_chunk_truncated_last_piece() -> None:
    parser = MidiStreamParser(sysex_chunk=4)
    got = parser.feed(b"\xf0\x01\x02\x03\x04\x05\x06\x07\x90\x01\x02")
    assert datas(got) == [b"\xf0\x01\x02\x03", b"\x04\x05\x06\x07", b"\x90\x01\x02"]
    assert [(m.complete, m.truncated) for m in got] == [(False, False), (True, True), (True, False)]
    assert_balanced(parser, got)


def test_realtime_inside_chunked_sysex_is_delivered_in_stream_order() -> None:
    parser = MidiStreamParser(sysex_chunk=2)
    got = parser.feed(b"\xf0\x01\x02\xf8\x03\xf7")
    assert datas(got) == [b"\xf0\x01", b"\xf8", b"\x02\x03", b"\xf7"]


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "8"])
def test_bad_sysex_chunk_raises(bad: object) -> None:
    with pytest.raises(MidiValueError, match="sysex_chunk"):
        MidiStreamParser(sysex_chunk=bad)  # type: ignore[arg-type]


def test_empty_feed() -> None:
    parser = MidiStreamParser()
    assert parser.feed(b"") == []
    assert parser.counters.bytes_in == 0


def test_flush_delivers_open_sysex_truncated_and_drops_partial() -> None:
    parser = MidiStreamParser(sysex_chunk=2)
    got = parser.feed(b"\xf0\x01\x02\x03")
    got += parser.flush()
    assert [(m.data, m.complete, m.truncated) for m in got] == [(b"\xf0\x01", False, False),
                                                                (b"\x02\x03", True, True)]
    assert parser.pending_bytes == 0 and parser.counters.sysex_truncated == 1
    assert_balanced(parser, got)
    got += parser.feed(b"\x90\x3c\x40\x3d")
    got += parser.flush()
    assert parser.counters.dropped_partial == 2 and parser.running_status == 0
    assert parser.flush() == []
    assert_balanced(parser, got)
