"""Master clocks in 100 ns units: the protocol filters take, a manual one for tests, a monotonic one.

The DirectMusic master clock is a 100 ns reference time that never pauses [AUD:latency-clocks];
filters never read wall time themselves, so tests drive time by hand and stay deterministic.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

UNITS_PER_SECOND = 10_000_000
"""100 ns units per second (REFERENCE_TIME)."""
UNITS_PER_MS = 10_000


@runtime_checkable
class MasterClock(Protocol):
    """Anything with `time_100ns() -> int`: the current master (reference) time in 100 ns units."""

    def time_100ns(self) -> int:
        """The current master time in 100 ns units; never decreases."""
        ...


class ManualClock:
    """A master clock that moves only when told: deterministic time for tests."""

    def __init__(self, start_100ns: int = 0) -> None:
        if start_100ns < 0:
            raise ValueError(f"start time must not be negative, not {start_100ns}")
        self._now = start_100ns
        self._lock = threading.Lock()

    def time_100ns(self) -> int:
        """The time last set."""
        return self._now

    def set(self, time_100ns: int) -> None:
        """Move to `time_100ns`; the master clock never runs backwards, so earlier times raise."""
        with self._lock:
            if time_100ns < self._now:
                raise ValueError(f"master clock cannot go back from {self._now} to {time_100ns}")
            self._now = time_100ns

    def advance(self, delta_100ns: int) -> int:
        """Move forward by `delta_100ns` (not negative) and return the new time."""
        if delta_100ns < 0:
            raise ValueError(f"master clock cannot advance by a negative {delta_100ns}")
        with self._lock:
            self._now += delta_100ns
            return self._now


class MonotonicClock:
    """The real master clock: time.monotonic_ns() in 100 ns units since creation; it never pauses."""

    def __init__(self) -> None:
        self._origin = time.monotonic_ns()

    def time_100ns(self) -> int:
        """100 ns units elapsed since this clock was created."""
        return (time.monotonic_ns() - self._origin) // 100
