"""The MIDI and frame mode configurations as values: packed for SET_MIDI_MODE / SET_FRAME_MODE and
decoded, every field checked, from a data stage or a GET_*_MODE answer. One definition serves both
sides of the wire: the host (rig.client) and the loopback board (rig.loopback)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Generic, Self, TypeVar

from rig import contract as c
from rig.errors import RigError

_M = TypeVar("_M", c.MidiMode, c.FrameMode)

SOURCE_RATE_HZ = range(1, 100_001)
"""The rates MIDI SOURCE accepts, events per second (MIDI_MODE_CONFIG.rate_hz)."""


class ModeConfigError(RigError, ValueError):
    """A mode configuration with a field out of range; the message names the field and its value."""


@dataclass(frozen=True)
class ModeConfig(Generic[_M]):
    """A mode and that mode's parameters, laid out on the wire by a contract Layout whose other fields
    are reserved (0). A subclass names its mode enum, its layout and its fields' upper limits."""

    mode: _M
    modes: ClassVar[type[enum.IntEnum]]
    layout: ClassVar[c.Layout]
    limits: ClassVar[Mapping[str, int]]
    """Upper limit of a field (inclusive), as the contract defines it for every board."""

    def __init_subclass__(cls, *, modes: type[enum.IntEnum], layout: c.Layout, limits: Mapping[str, int],
                          **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.modes, cls.layout, cls.limits = modes, layout, limits

    def pack(self) -> bytes:
        """The data stage of SET_*_MODE (and GET_*_MODE's answer): the fields, reserved ones 0."""
        return self.layout.pack(**{field.name: int(getattr(self, field.name)) for field in fields(self)})

    @classmethod
    def unpack(cls, data: bytes | bytearray | memoryview, limits: Mapping[str, int] | None = None) -> Self:
        """From exactly `layout.size` bytes; ModeConfigError names an unknown mode, a reserved field that
        is not 0, or a field above its limit (`limits`, e.g. the cables a board reports, before the
        contract's)."""
        values = {name: value for name, value in cls.layout.unpack(data).items() if isinstance(value, int)}
        number = values.pop("mode")
        try:
            mode = cls.modes(number)
        except ValueError:
            raise ModeConfigError(f"mode: {number} is not a valid value ({cls.modes.__name__})") from None
        reserved = {name: values.pop(name) for name in list(values) if name.startswith("reserved")}
        if any(reserved.values()):
            raise ModeConfigError("reserved fields are not 0: "
                                  + ", ".join(f"{name} is {value}" for name, value in reserved.items()))
        for name, limit in {**cls.limits, **(limits or {})}.items():
            if not 0 <= values[name] <= limit:
                raise ModeConfigError(f"{name} {values[name]} is not in 0..{limit}")
        built: dict[str, Any] = {"mode": mode, **values}
        return cls(**built)


@dataclass(frozen=True)
class MidiModeConfig(ModeConfig[c.MidiMode], modes=c.MidiMode, layout=c.MIDI_MODE_CONFIG,
                     limits={"cable": c.MIDI_CABLES - 1}):
    """SET_MIDI_MODE / GET_MIDI_MODE contents."""

    cable: int = 0
    transpose: int = 0
    rate_hz: int = 0
    count: int = 0

    def check_source_rate(self) -> None:
        """A SET_MIDI_MODE precondition: SOURCE needs a rate in SOURCE_RATE_HZ (ModeConfigError if not)."""
        if self.mode is c.MidiMode.SOURCE and self.rate_hz not in SOURCE_RATE_HZ:
            rates = SOURCE_RATE_HZ
            raise ModeConfigError(f"SOURCE needs rate_hz in {rates.start}..{rates.stop - 1}, "
                                  f"got {self.rate_hz}")


@dataclass(frozen=True)
class FrameModeConfig(ModeConfig[c.FrameMode], modes=c.FrameMode, layout=c.FRAME_MODE_CONFIG,
                      limits={"payload_len": c.FRAME_MAX_PAYLOAD}):
    """SET_FRAME_MODE / GET_FRAME_MODE contents."""

    payload_len: int = 0
    count: int = 0
    interval_us: int = 0


__all__ = ["SOURCE_RATE_HZ", "FrameModeConfig", "MidiModeConfig", "ModeConfig", "ModeConfigError"]
