"""Stand-ins for what a rig.loopback.cdc ConsoleSession talks to: the board it reports on (a
ConsoleHost with a clock the test sets) and a port that takes every byte and keeps it."""

from __future__ import annotations

from rig import contract as c


class Host:
    """A ConsoleHost with a settable clock that counts console bytes."""

    def __init__(self) -> None:
        self.time_us = 1000
        self.tx = 0

    def console_stats(self) -> dict[str, int]:
        return dict.fromkeys(c.STATS.names, 0)

    def console_time_us(self) -> int:
        return self.time_us

    def console_reset_stats(self) -> None:
        pass

    def console_bytes(self, rx: int, tx: int) -> None:
        self.tx += tx


class Port:
    """A console write function that takes every byte and keeps each write in `written`."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def __call__(self, data: bytes) -> int:
        self.written.append(data)
        return len(data)
