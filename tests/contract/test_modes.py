"""rig.contract.modes: the mode configurations both sides decode (docs/protocol.md, SET_MIDI_MODE and
SET_FRAME_MODE): packing round-trips, and every field out of range is refused by name."""

from __future__ import annotations

import pytest

from rig import contract as c
from rig.contract.modes import FrameModeConfig, MidiModeConfig, ModeConfigError


def test_configs_round_trip() -> None:
    midi = MidiModeConfig(c.MidiMode.TRANSFORM, cable=0, transpose=-5, rate_hz=10, count=3)
    assert MidiModeConfig.unpack(midi.pack()) == midi
    frame = FrameModeConfig(c.FrameMode.SOURCE, payload_len=100, count=2, interval_us=7)
    assert FrameModeConfig.unpack(frame.pack()) == frame
    assert MidiModeConfig(c.MidiMode.ECHO).pack() == c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.ECHO)


@pytest.mark.parametrize(("data", "problem"), [
    (c.MIDI_MODE_CONFIG.pack(mode=9), "mode: 9 is not a valid value"),
    (c.MIDI_MODE_CONFIG.pack(reserved=1), "reserved is 1"),
    (c.MIDI_MODE_CONFIG.pack(cable=c.MIDI_CABLES), f"cable {c.MIDI_CABLES} is not in 0..{c.MIDI_CABLES - 1}"),
], ids=["mode", "reserved", "cable"])
def test_midi_field_out_of_range_is_named(data: bytes, problem: str) -> None:
    with pytest.raises(ModeConfigError, match=problem):
        MidiModeConfig.unpack(data)


@pytest.mark.parametrize(("data", "problem"), [
    (c.FRAME_MODE_CONFIG.pack(mode=7), "mode: 7 is not a valid value"),
    (c.FRAME_MODE_CONFIG.pack(reserved0=1), "reserved fields are not 0: reserved0 is 1, reserved1 is 0"),
    (c.FRAME_MODE_CONFIG.pack(reserved1=5), "reserved fields are not 0: reserved0 is 0, reserved1 is 5"),
    (c.FRAME_MODE_CONFIG.pack(payload_len=c.FRAME_MAX_PAYLOAD + 1), "payload_len 16385 is not in 0..16384"),
], ids=["mode", "reserved0", "reserved1", "payload_len"])
def test_frame_field_out_of_range_is_named(data: bytes, problem: str) -> None:
    with pytest.raises(ModeConfigError, match=problem):
        FrameModeConfig.unpack(data)


@pytest.mark.parametrize("rate_hz", [0, 100_001])
def test_source_rate_is_a_set_precondition(rate_hz: int) -> None:
    """Decoding accepts any rate (a GET answer is judged by its fields); setting SOURCE needs 1..100000."""
    config = MidiModeConfig.unpack(c.MIDI_MODE_CONFIG.pack(mode=c.MidiMode.SOURCE, rate_hz=rate_hz))
    with pytest.raises(ModeConfigError, match=f"SOURCE needs rate_hz in 1..100000, got {rate_hz}"):
        config.check_source_rate()
    MidiModeConfig(c.MidiMode.SOURCE, rate_hz=100_000).check_source_rate()
    MidiModeConfig(c.MidiMode.ECHO, rate_hz=0).check_source_rate()
