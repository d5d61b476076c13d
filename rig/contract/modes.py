"""The MIDI and frame mode configurations as values: packed for SET_MIDI_MODE / SET_FRAME_MODE and
decoded, every field checked, from a data stage or a GET_*_MODE answer. One definition serves both
sides of the wire: the host (rig.client) and the loopback board (rig.loopback)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeVar

from rig import contract as c
from rig.errors import RigError

_E = TypeVar("_E", bound=enum.IntEnum)


class ModeConfigError(RigError, ValueError):
    """A mode configuration with a field out of range; the message names the field and its value."""


def _ints(layout: c.Layout, data: bytes | bytearray | memoryview) -> dict[str, int]:
    return {name: value for name, value in layout.unpack(data).items() if isinstance(value, int)}


def _mode(enum_type: type[_E], value: int) -> _E:
    try:
        return enum_type(value)
    except ValueError:
        raise ModeConfigError(f"mode: {value} is not a valid value ({enum_type.__name__})") from None


@dataclass(frozen=True)
class MidiModeConfig:
    """SET_MIDI_MODE / GET_MIDI_MODE contents (defaults: ECHO on cable 0)."""

    mode: c.MidiMode = c.MidiMode.ECHO
    cable: int = 0
    transpose: int = 0
    rate_hz: int = 0
    count: int = 0

    def pack(self) -> bytes:
        """The 12 bytes of the data stage (and of GET_MIDI_MODE's answer)."""
        return c.MIDI_MODE_CONFIG.pack(mode=int(self.mode), cable=self.cable, transpose=self.transpose,
                                       rate_hz=self.rate_hz, count=self.count)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, cables: int = c.MIDI_CABLES) -> MidiModeConfig:
        """From exactly MIDI_MODE_CONFIG.size bytes on a board with `cables` cables; ModeConfigError
        names a field out of range (the SOURCE rate is the setter's check: see `check_source_rate`)."""
        v = _ints(c.MIDI_MODE_CONFIG, data)
        mode = _mode(c.MidiMode, v["mode"])
        if v["reserved"]:
            raise ModeConfigError(f"reserved is {v['reserved']}, expected 0")
        if v["cable"] >= cables:
            raise ModeConfigError(f"cable {v['cable']} is not below midi_cables {cables}")
        return cls(mode, v["cable"], v["transpose"], v["rate_hz"], v["count"])

    def check_source_rate(self) -> None:
        """A SET_MIDI_MODE precondition: SOURCE needs a rate in SOURCE_RATE_HZ (ModeConfigError if not)."""
        if self.mode is c.MidiMode.SOURCE and self.rate_hz not in SOURCE_RATE_HZ:
            rates = SOURCE_RATE_HZ
            raise ModeConfigError(f"SOURCE needs rate_hz in {rates.start}..{rates.stop - 1}, "
                                  f"got {self.rate_hz}")


SOURCE_RATE_HZ = range(1, 100_001)
"""The rates SOURCE accepts, events per second (MIDI_MODE_CONFIG.rate_hz)."""


@dataclass(frozen=True)
class FrameModeConfig:
    """SET_FRAME_MODE / GET_FRAME_MODE contents (default: ECHO)."""

    mode: c.FrameMode = c.FrameMode.ECHO
    payload_len: int = 0
    count: int = 0
    interval_us: int = 0

    def pack(self) -> bytes:
        """The 16 bytes of the data stage (and of GET_FRAME_MODE's answer)."""
        return c.FRAME_MODE_CONFIG.pack(mode=int(self.mode), payload_len=self.payload_len, count=self.count,
                                        interval_us=self.interval_us)

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview,
               max_payload: int = c.FRAME_MAX_PAYLOAD) -> FrameModeConfig:
        """From exactly FRAME_MODE_CONFIG.size bytes; ModeConfigError names a field out of range."""
        v = _ints(c.FRAME_MODE_CONFIG, data)
        mode = _mode(c.FrameMode, v["mode"])
        if v["reserved0"] or v["reserved1"]:
            raise ModeConfigError("reserved fields are not 0")
        if v["payload_len"] > max_payload:
            raise ModeConfigError(f"payload_len {v['payload_len']} exceeds {max_payload}")
        return cls(mode, v["payload_len"], v["count"], v["interval_us"])


__all__ = ["SOURCE_RATE_HZ", "FrameModeConfig", "MidiModeConfig", "ModeConfigError"]
