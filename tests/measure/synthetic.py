"""Synthetic runs for the pure parts (report, history): known samples, no device."""

from __future__ import annotations

from rig.measure.clocksync import Exchange, fit
from rig.measure.model import Run, Sample, ThroughputResult, frame_ceiling_payload_per_s


def latency_run(n: int = 200, base_us: int = 300, lost_every: int = 0, real_timing: bool = False,
                stamps: bool = True) -> Run:
    """n measured samples (plus 5 warm-up) with RTT base_us + (i % 50) us; every lost_every-th lost."""
    run = Run(kind="latency", path="frames", target="loopback", target_kind="loopback",
              real_timing=real_timing, settings={"count": n, "warmup": 5},
              facts={"target": "loopback", "firmware": "0.1.0"})
    t = 10**9
    for i in range(n + 5):
        lost = bool(lost_every) and i >= 5 and i % lost_every == 0
        rtt_ns = (base_us + i % 50) * 1000
        s = Sample(seq=i, sent_ns=t, warmup=i < 5, size=16, lost=lost)
        if not lost:
            s.received_ns = t + rtt_ns
            if stamps:
                s.device_rx_us = (t + rtt_ns // 2) // 1000 + 5_000
                s.device_tx_us = s.device_rx_us + 7
            run.arrival_order.append(i)
        run.samples.append(s)
        t += 2_000_000
    if stamps:
        run.clock = fit([Exchange(x, 5_000 + x // 1000, x + 20_000) for x in range(10**9, 2 * 10**9, 10**8)])
    return run


def throughput_run(rate: float = 800_000.0) -> Run:
    """Bulk OUT and IN results with a series of ten points each."""
    run = Run(kind="throughput", path="frames", target="loopback", target_kind="loopback", real_timing=False)
    for direction, factor in (("bulk-out", 1.0), ("bulk-in", 0.7)):
        r = rate * factor
        run.throughput.append(ThroughputResult(
            direction=direction, unit="bytes", payload_len=1024, items=1000, amount=int(r),
            elapsed_s=1.0, ceiling_per_s=frame_ceiling_payload_per_s(1024),
            series=[(0.1 * k, r) for k in range(1, 11)], device_count=1000))
    return run
