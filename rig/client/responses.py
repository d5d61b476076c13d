"""The board's answers decoded and checked: GET_INFO, and GET_STATS by counter name (the mode
configurations are rig.contract.modes: the loopback board decodes them too)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from rig import contract as c


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
