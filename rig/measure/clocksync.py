"""Host/device clock offset and drift from request/response pairs, with a bound on the error.

Each exchange is (host send time, device time, host receive time). By causality the device read
its clock somewhere between the host's send and receive, so mapping the device time to the
midpoint is wrong by at most half the round trip. As NTP's clock filter does, we keep only the
minimum-RTT exchange of each window (the least queued ones), fit device = offset + rate * host by
least squares over those, and report the error bound as half the largest RTT used plus the
largest fit residual plus the device clock's resolution.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from rig.errors import RigError


class ClockSyncError(RigError, ValueError):
    """The exchanges cannot give a clock fit (too few, or inconsistent); the message says why."""


@dataclass(frozen=True)
class Exchange:
    """One request/response pair: host times in nanoseconds, device time in microseconds."""

    host_send_ns: int
    device_us: int
    host_recv_ns: int

    @property
    def rtt_ns(self) -> int:
        """Round trip on the host clock."""
        return self.host_recv_ns - self.host_send_ns

    @property
    def host_mid_ns(self) -> float:
        """Host time the device stamp is mapped to."""
        return (self.host_send_ns + self.host_recv_ns) / 2.0


@dataclass(frozen=True)
class ClockFit:
    """device_us = offset_us + rate * (host_ns / 1000), valid near the exchanges it came from."""

    offset_us: float
    rate: float
    """Device microseconds per host microsecond (1 + drift)."""
    error_bound_us: float
    """Bound on |mapped time - true time| at the exchanges used; see the module docstring."""
    half_rtt_us: float
    residual_us: float
    resolution_us: float
    exchanges_total: int
    exchanges_used: int
    host_span_s: float
    """Host time between the first and last exchange used; drift is only as good as this span."""

    @property
    def drift_ppm(self) -> float:
        """Device clock rate relative to the host clock, in parts per million."""
        return (self.rate - 1.0) * 1e6

    def device_to_host_ns(self, device_us: float) -> float:
        """Host monotonic time (ns) at which the device clock read `device_us`."""
        return (device_us - self.offset_us) / self.rate * 1000.0

    def host_to_device_us(self, host_ns: float) -> float:
        """Device time (us) at host monotonic time `host_ns`."""
        return self.offset_us + self.rate * host_ns / 1000.0

    def device_interval_to_host_ns(self, device_us: float) -> float:
        """A device-clock duration expressed in host nanoseconds (drift-corrected)."""
        return device_us / self.rate * 1000.0

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON and the history database (drift included)."""
        return {**asdict(self), "drift_ppm": self.drift_ppm}


def select_min_rtt(exchanges: Sequence[Exchange], windows: int) -> list[Exchange]:
    """Split the exchanges (in order) into `windows` equal runs and keep each run's minimum-RTT one."""
    if windows < 1:
        raise ClockSyncError(f"windows must be at least 1, got {windows}")
    n = len(exchanges)
    windows = min(windows, n)
    chosen: list[Exchange] = []
    for w in range(windows):
        part = exchanges[w * n // windows:(w + 1) * n // windows]
        if part:
            chosen.append(min(part, key=lambda e: e.rtt_ns))
    return chosen


MIN_DRIFT_SPAN_S = 1.0
"""Below this span a fitted drift is mostly noise (tens of ppm from microseconds of jitter), and a
drift that small cannot move a short run's times by more than the error bound, so rate = 1."""


def fit(exchanges: Sequence[Exchange], windows: int = 8, resolution_us: float = 1.0,
        fit_drift: bool = True, min_drift_span_s: float = MIN_DRIFT_SPAN_S) -> ClockFit:
    """Offset and drift from exchanges; windows > 1 and two separated bursts give the best drift.
    Drift is fitted only when the exchanges used span at least `min_drift_span_s`."""
    if not exchanges:
        raise ClockSyncError("no clock exchanges to fit")
    for e in exchanges:
        if e.rtt_ns < 0:
            raise ClockSyncError(f"exchange received before it was sent (rtt {e.rtt_ns} ns)")
    used = select_min_rtt(exchanges, windows)
    xs = [e.host_mid_ns / 1000.0 for e in used]
    ys = [float(e.device_us) for e in used]
    x0 = xs[0]
    span_us = max(xs) - min(xs)
    if fit_drift and len(used) >= 2 and span_us > 0 and span_us >= min_drift_span_s * 1e6:
        mx = math.fsum(x - x0 for x in xs) / len(xs)
        my = math.fsum(ys) / len(ys)
        sxx = math.fsum((x - x0 - mx) ** 2 for x in xs)
        sxy = math.fsum((x - x0 - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        rate = sxy / sxx
        if not 0.5 < rate < 2.0:
            raise ClockSyncError(f"fitted clock rate {rate!r} is implausible; are the device times "
                                 "in microseconds and from one boot?")
        intercept_at_x0 = my - rate * mx
    else:
        rate = 1.0
        intercept_at_x0 = math.fsum(y - (x - x0) for x, y in zip(xs, ys, strict=True)) / len(xs)
    offset = intercept_at_x0 - rate * x0
    residual = max(abs(y - (offset + rate * x)) for x, y in zip(xs, ys, strict=True))
    half_rtt = max(e.rtt_ns for e in used) / 2000.0
    return ClockFit(offset_us=offset, rate=rate, error_bound_us=half_rtt + residual + resolution_us,
                    half_rtt_us=half_rtt, residual_us=residual, resolution_us=resolution_us,
                    exchanges_total=len(exchanges), exchanges_used=len(used),
                    host_span_s=span_us / 1e6)


def collect(device_time_us: Callable[[], int], count: int,
            clock_ns: Callable[[], int] = time.perf_counter_ns) -> list[Exchange]:
    """Ask the device for its time `count` times, stamping each request on the host clock."""
    if count < 1:
        raise ClockSyncError(f"count must be at least 1, got {count}")
    out: list[Exchange] = []
    for _ in range(count):
        t0 = clock_ns()
        d = device_time_us()
        t1 = clock_ns()
        out.append(Exchange(t0, int(d), t1))
    return out
