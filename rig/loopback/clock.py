"""Microsecond clocks for the loopback board: real (time.monotonic_ns) or manual (tests).

The board stamps frames, answers GET_TIME and paces SOURCE modes with one injected clock, so a
test can make time deterministic without changing the board.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """Device time in microseconds since the board booted."""

    def now_us(self) -> int:
        """Microseconds since boot."""
        ...

    def wait_until(self, t_us: int, stop: threading.Event) -> bool:
        """Sleep until now_us() >= t_us or `stop` is set; True when the time was reached."""
        ...


class MonotonicClock:
    """Real time from time.monotonic_ns, starting at 0 when created (the board's boot)."""

    def __init__(self) -> None:
        self._boot_ns = time.monotonic_ns()

    def now_us(self) -> int:
        """Microseconds since this clock was made."""
        return (time.monotonic_ns() - self._boot_ns) // 1000

    def wait_until(self, t_us: int, stop: threading.Event) -> bool:
        """Event-interruptible sleep until `t_us`."""
        while True:
            remaining = t_us - self.now_us()
            if remaining <= 0:
                return True
            if stop.wait(remaining / 1e6):
                return False


class ManualClock:
    """A clock that moves only when told to, or jumps forward when something waits on it."""

    def __init__(self, start_us: int = 0) -> None:
        self._now = start_us
        self._lock = threading.Lock()

    def now_us(self) -> int:
        """The current manual time."""
        with self._lock:
            return self._now

    def advance(self, delta_us: int) -> None:
        """Move time forward by `delta_us` (>= 0)."""
        if delta_us < 0:
            raise ValueError(f"ManualClock cannot go backwards (delta {delta_us} us)")
        with self._lock:
            self._now += delta_us

    def wait_until(self, t_us: int, stop: threading.Event) -> bool:
        """Jump to `t_us` at once (a paced SOURCE runs as fast as the host reads)."""
        if stop.is_set():
            return False
        with self._lock:
            self._now = max(self._now, t_us)
        return True
