"""Injected transports for the runners: a simulated clock and an echoing link with chosen delays,
losses and an optional KeyboardInterrupt (what Ctrl-C raises) after some sends."""

from __future__ import annotations

import heapq
from collections.abc import Callable

from rig.measure.latency import Arrival


class FakeClock:
    """A monotonic clock that only moves when the fake link or sleep moves it."""

    def __init__(self, start_ns: int = 1_000_000_000) -> None:
        self.now_ns = start_ns

    def __call__(self) -> int:
        return self.now_ns

    def sleep(self, seconds: float) -> None:
        self.now_ns += max(0, int(seconds * 1e9))


class EchoLink:
    """Answers each send after delay_ns(n) (n = send index), unless drop(n); may raise Ctrl-C, or
    `fault` (an unplugged device) from the send after `fail_after` sends."""

    def __init__(self, clock: FakeClock, delay_ns: Callable[[int], int] = lambda n: 200_000,
                 drop: Callable[[int], bool] = lambda n: False, interrupt_after: int | None = None,
                 transform: Callable[[bytes], bytes] = lambda b: b,
                 device_offset_us: int | None = None, fail_after: int | None = None,
                 fault: Exception | None = None) -> None:
        self.clock = clock
        self.delay_ns = delay_ns
        self.drop = drop
        self.interrupt_after = interrupt_after
        self.transform = transform
        self.device_offset_us = device_offset_us
        self.fail_after = fail_after
        self.fault = fault or ConnectionError("the device is gone")
        self.name = "fake echo link"
        self.sent: list[bytes] = []
        self._pending: list[tuple[int, int, bytes]] = []

    def send(self, payload: bytes) -> None:
        n = len(self.sent)
        if self.interrupt_after is not None and n >= self.interrupt_after:
            raise KeyboardInterrupt
        if self.fail_after is not None and n >= self.fail_after:
            raise self.fault
        self.sent.append(payload)
        self.clock.now_ns += 1_000  # the send itself takes a microsecond
        if not self.drop(n):
            heapq.heappush(self._pending, (self.clock.now_ns + self.delay_ns(n), n, self.transform(payload)))

    def receive(self, timeout_s: float) -> list[Arrival]:
        limit = self.clock.now_ns + int(timeout_s * 1e9)
        if not self._pending or self._pending[0][0] > limit:
            self.clock.now_ns = max(self.clock.now_ns, limit)
            return []
        due, _n, payload = heapq.heappop(self._pending)
        self.clock.now_ns = max(self.clock.now_ns, due)
        if self.device_offset_us is None:
            return [Arrival(payload, self.clock.now_ns)]
        # The device got it halfway and held it 10 us.
        rx = self.device_offset_us + (due - 200_000 // 2) // 1000 - 10
        return [Arrival(payload, self.clock.now_ns, rx, rx + 10)]
