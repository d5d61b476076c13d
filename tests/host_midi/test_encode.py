"""Unit tests of host.midi.encode and host.midi.spec: builders, range errors, running status out,
and the status table."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from host.midi import encode as enc
from host.midi.errors import MidiError, MidiValueError
from host.midi.spec import (
    REALTIME_STATUSES,
    SPEC_BY_NAME,
    SPEC_BY_STATUS,
    SYSEX_LENGTH,
    UNDEFINED_STATUSES,
    kind_name,
    message_length,
)
from host.midi.stream import parse


@pytest.mark.parametrize(("built", "wire"), [
    (enc.note_off(0, 60), b"\x80\x3c\x40"),
    (enc.note_off(15, 127, 0), b"\x8f\x7f\x00"),
    (enc.note_on(1, 60, 100), b"\x91\x3c\x64"),
    (enc.poly_pressure(2, 0, 127), b"\xa2\x00\x7f"),
    (enc.control_change(3, 7, 100), b"\xb3\x07\x64"),
    (enc.program_change(4, 5), b"\xc4\x05"),
    (enc.channel_pressure(5, 80), b"\xd5\x50"),
    (enc.pitch_bend(6, 0), b"\xe6\x00\x40"),
    (enc.pitch_bend(6, -8192), b"\xe6\x00\x00"),
    (enc.pitch_bend(6, 8191), b"\xe6\x7f\x7f"),
    (enc.pitch_bend(6, 1), b"\xe6\x01\x40"),
    (enc.sysex(b""), b"\xf0\xf7"),
    (enc.sysex([0x7E, 0x7F, 0x06, 0x01]), b"\xf0\x7e\x7f\x06\x01\xf7"),
    (enc.mtc_quarter_frame(7, 15), b"\xf1\x7f"),
    (enc.mtc_quarter_frame(0, 1), b"\xf1\x01"),
    (enc.song_position(16383), b"\xf2\x7f\x7f"),
    (enc.song_position(128), b"\xf2\x00\x01"),
    (enc.song_select(9), b"\xf3\x09"),
    (enc.tune_request(), b"\xf6"),
    (enc.timing_clock(), b"\xf8"),
    (enc.start(), b"\xfa"),
    (enc.continue_(), b"\xfb"),
    (enc.stop(), b"\xfc"),
    (enc.active_sensing(), b"\xfe"),
    (enc.system_reset(), b"\xff"),
])
def test_builders_make_the_wire_bytes(built: bytes, wire: bytes) -> None:
    assert built == wire
    assert enc.check_message(built) == wire
    assert [m.data for m in parse(built)] == [wire]


@pytest.mark.parametrize("value", [-8192, -1, 0, 1, 8191])
def test_pitch_bend_value_inverts_pitch_bend(value: int) -> None:
    assert enc.pitch_bend_value(enc.pitch_bend(0, value)) == value


@pytest.mark.parametrize(("call", "argument", "value"), [
    (lambda: enc.note_on(16, 60, 1), "channel", "16"),
    (lambda: enc.note_on(-1, 60, 1), "channel", "-1"),
    (lambda: enc.note_on(0, 128, 1), "note", "128"),
    (lambda: enc.note_on(0, 60, 200), "velocity", "200"),
    (lambda: enc.note_off(0, 60, -3), "velocity", "-3"),
    (lambda: enc.poly_pressure(0, 1, 128), "pressure", "128"),
    (lambda: enc.control_change(0, 128, 0), "control", "128"),
    (lambda: enc.control_change(0, 0, 1.5), "value", "1.5"),  # type: ignore[arg-type]
    (lambda: enc.program_change(0, True), "program", "True"),
    (lambda: enc.channel_pressure(0, "1"), "pressure", "'1'"),  # type: ignore[arg-type]
    (lambda: enc.pitch_bend(0, 8192), "value", "8192"),
    (lambda: enc.pitch_bend(0, -8193), "value", "-8193"),
    (lambda: enc.pitch_bend(17, 0), "channel", "17"),
    (lambda: enc.mtc_quarter_frame(8, 0), "frame_type", "8"),
    (lambda: enc.mtc_quarter_frame(0, 16), "value", "16"),
    (lambda: enc.song_position(16384), "beats", "16384"),
    (lambda: enc.song_select(128), "song", "128"),
])
def test_out_of_range_arguments_name_the_argument_and_value(
    call: Callable[[], bytes], argument: str, value: str
) -> None:
    with pytest.raises(MidiValueError) as info:
        call()
    assert str(info.value).startswith(f"{argument} must be")
    assert str(info.value).endswith(f"got {value}")
    assert isinstance(info.value, ValueError) and isinstance(info.value, MidiError)


def test_sysex_rejects_status_bytes_in_payload() -> None:
    with pytest.raises(MidiValueError, match="payload byte 2 is 0xF7"):
        enc.sysex(b"\x01\x02\xf7")
    with pytest.raises(MidiValueError, match="payload"):
        enc.sysex([300])


@pytest.mark.parametrize(("message", "match"), [
    (b"", "empty"),
    (b"\x01", "starts no MIDI message"),
    (b"\xf4", "starts no MIDI message"),
    (b"\x90\x01", "must be 3 bytes"),
    (b"\x90\x01\x90", "status byte among"),
    (b"\xf0\x01", "must end with F7"),
    (b"\xf0\x01\xf8\xf7", "status byte among"),
])
def test_check_message_rejects(message: bytes, match: str) -> None:
    with pytest.raises(MidiValueError, match=match):
        enc.check_message(message)


def test_encode_stream_without_running_status_concatenates() -> None:
    msgs = [b"\x90\x3c\x40", b"\x90\x3d\x40", b"\xf8", b"\x90\x3e\x40"]
    assert enc.encode_stream(msgs) == b"".join(msgs)


def test_encode_stream_with_running_status() -> None:
    msgs = [b"\x90\x3c\x40", b"\x90\x3d\x40", b"\xf8", b"\x90\x3e\x40", b"\x80\x3c\x00",
            b"\x80\x3d\x00", b"\xf1\x01", b"\x80\x3e\x00", b"\xf0\x01\xf7", b"\x80\x3f\x00",
            b"\xc0\x01", b"\xc0\x02", b"\xf6", b"\xc0\x03"]
    wire = enc.encode_stream(msgs, running_status=True)
    assert wire == (b"\x90\x3c\x40\x3d\x40\xf8\x3e\x40\x80\x3c\x00\x3d\x00\xf1\x01\x80\x3e\x00"
                    b"\xf0\x01\xf7\x80\x3f\x00\xc0\x01\x02\xf6\xc0\x03")
    assert [m.data for m in parse(wire)] == msgs


def test_encode_stream_names_the_bad_message() -> None:
    with pytest.raises(MidiValueError, match=r"messages\[1\]: .*must be 2 bytes"):
        enc.encode_stream([b"\xf8", b"\xc0\x01\x02"])


def test_spec_table_is_complete_and_consistent() -> None:
    for status in range(256):
        spec = SPEC_BY_STATUS[status]
        if status < 0x80 or status in UNDEFINED_STATUSES or status == 0xF7:
            assert spec is None
            with pytest.raises(MidiValueError, match=f"0x{status:02X}"):
                message_length(status)
            continue
        assert spec is not None
        assert kind_name(status) == spec.name
        assert message_length(status) == spec.length
        assert SPEC_BY_NAME[spec.name] is spec
        assert spec.is_channel == (status < 0xF0)
        if spec.length:
            assert len(spec.data_names) == spec.length - 1
    assert message_length(0xF0) == SYSEX_LENGTH
    assert {0xF8, 0xFA, 0xFB, 0xFC, 0xFE, 0xFF} == REALTIME_STATUSES
    assert kind_name(0xF4) == "undefined"
    assert kind_name(300) == "undefined"


@pytest.mark.parametrize("bad", [-1, 256, "0x90", None])
def test_message_length_rejects_non_bytes(bad: object) -> None:
    with pytest.raises(MidiValueError, match="status must be"):
        message_length(bad)  # type: ignore[arg-type]
