"""The board's answers decoded and checked: GET_INFO, the MIDI and frame mode configurations, and
GET_STATS by counter name."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeVar

from rig import contract as c
from rig.client.errors import DeviceResponseError


@dataclass(frozen=True)
class Info:
    """GET_INFO, decoded and checked."""

    contract_version: int
    firmware_version: tuple[int, int, int]
    midi_cables: int
    ring_slots: int
    capabilities: c.Capability
    max_payload: int
    clock_hz: int
    unique_id: bytes

    @property
    def unique_id_hex(self) -> str:
        """The unique ID as iSerialNumber spells it: upper-case hex, most significant byte first."""
        return self.unique_id.hex().upper()

    @property
    def firmware(self) -> str:
        """Firmware version as `major.minor.patch`."""
        return ".".join(str(part) for part in self.firmware_version)


@dataclass(frozen=True)
class MidiModeConfig:
    """SET_MIDI_MODE / GET_MIDI_MODE contents."""

    mode: c.MidiMode
    transpose: int = 0
    rate_hz: int = 0
    count: int = 0
    cable: int = 0


@dataclass(frozen=True)
class FrameModeConfig:
    """SET_FRAME_MODE / GET_FRAME_MODE contents."""

    mode: c.FrameMode
    payload_len: int = 0
    count: int = 0
    interval_us: int = 0


class Stats(Mapping[str, int]):
    """GET_STATS: every counter of `contract.STATS`, by name (`stats["frames_rx"]` or `stats.frames_rx`)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, int]) -> None:
        missing = [name for name in c.STATS.names if name not in values]
        extra = [name for name in values if name not in c.STATS.names]
        if missing or extra:
            raise ValueError(f"stats: missing {missing}, unknown {extra}")
        self._values = {name: int(values[name]) for name in c.STATS.names}

    def __getitem__(self, name: str) -> int:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __getattr__(self, name: str) -> int:
        try:
            return self._values[name]
        except (KeyError, AttributeError):
            raise AttributeError(f"Stats has no counter {name!r}") from None

    def __repr__(self) -> str:
        return "Stats(" + ", ".join(f"{k}={v}" for k, v in self._values.items()) + ")"

    def nonzero(self) -> dict[str, int]:
        """Only the counters that are not zero (what a report shows)."""
        return {name: value for name, value in self._values.items() if value}


_T = TypeVar("_T")


def check_enum(enum_type: Callable[[int], _T], value: int, what: str) -> _T:
    try:
        return enum_type(value)
    except ValueError:
        raise DeviceResponseError(f"{what}: {value} is not a valid value") from None
