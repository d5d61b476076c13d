"""Clock fit on synthetic clocks with known offset, drift and jitter."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rig.measure.clocksync import ClockSyncError, Exchange, fit, select_min_rtt


def synthetic(offset_us: float, drift_ppm: float, n: int, seed: int, start_ns: int = 10**9,
              spacing_ns: int = 1_000_000, base_delay_ns: int = 50_000,
              queue_max_ns: int = 400_000) -> list[Exchange]:
    """Exchanges against a device clock device = offset + (1 + drift) * host, with random delays."""
    rng = random.Random(seed)
    rate = 1 + drift_ppm * 1e-6
    out = []
    for i in range(n):
        t0 = start_ns + i * spacing_ns
        up = base_delay_ns + rng.randrange(queue_max_ns)
        down = base_delay_ns + rng.randrange(queue_max_ns)
        stamp_host_ns = t0 + up
        device = int(offset_us + rate * stamp_host_ns / 1000.0)
        out.append(Exchange(t0, device, stamp_host_ns + down))
    return out


@settings(max_examples=60, deadline=None)
@given(st.floats(-1e9, 1e9), st.floats(-200, 200), st.integers(0, 2**32))
def test_true_device_time_lies_within_the_bound(offset: float, drift: float, seed: int) -> None:
    ex = synthetic(offset, drift, 200, seed)
    f = fit(ex, windows=10)
    rate = 1 + drift * 1e-6
    # The bound holds at the exchanges used; check it across the whole span.
    for e in ex[::17]:
        true_device = offset + rate * e.host_mid_ns / 1000.0
        assert abs(f.host_to_device_us(e.host_mid_ns) - true_device) <= f.error_bound_us + 1.0


def test_drift_and_offset_are_recovered_from_a_long_span() -> None:
    ex = synthetic(5_000_000.0, 40.0, 400, seed=3, spacing_ns=25_000_000, queue_max_ns=50_000)
    f = fit(ex, windows=20)
    assert abs(f.drift_ppm - 40.0) < 2.0
    assert f.exchanges_used == 20 and f.exchanges_total == 400
    assert f.error_bound_us >= f.half_rtt_us > 0


def test_device_to_host_inverts_host_to_device() -> None:
    f = fit(synthetic(123.0, -15.0, 50, seed=1))
    assert abs(f.device_to_host_ns(f.host_to_device_us(7.5e9)) - 7.5e9) < 1e-3


def test_min_rtt_selection_picks_the_least_queued_exchange_per_window() -> None:
    ex = [Exchange(0, 0, 50), Exchange(100, 0, 110), Exchange(200, 0, 260), Exchange(300, 0, 305)]
    assert select_min_rtt(ex, 2) == [ex[1], ex[3]]


def test_bad_input_is_rejected_with_a_reason() -> None:
    with pytest.raises(ClockSyncError, match="no clock exchanges"):
        fit([])
    with pytest.raises(ValueError, match="before it was sent"):
        fit([Exchange(100, 0, 50)])
    with pytest.raises(ClockSyncError, match="implausible"):
        fit([Exchange(0, 0, 10), Exchange(10**9, 10**7, 10**9 + 10)])


def test_without_drift_fit_the_rate_is_one() -> None:
    f = fit(synthetic(42.0, 100.0, 20, seed=9), fit_drift=False)
    assert f.rate == 1.0


def test_short_spans_do_not_fit_drift() -> None:
    short = fit(synthetic(0.0, 100.0, 100, seed=2, spacing_ns=1_000_000))  # 0.1 s
    assert short.rate == 1.0
    long = fit(synthetic(0.0, 100.0, 100, seed=2, spacing_ns=20_000_000), windows=10)  # 2 s
    assert long.rate != 1.0
