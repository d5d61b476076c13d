"""Statistics against a simple reference, and sequence accounting on known patterns."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.measure.stats import StatsError, account, percentile, summarize

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)


def reference_percentile(values: list[float], p: float) -> float:
    """Nearest rank by counting: the smallest value with at least p% of values at or below it."""
    ordered = sorted(values)
    n = len(ordered)
    for v in ordered:
        if sum(1 for w in ordered if w <= v) * 100 >= p * n - 1e-6 * n:
            return v
    return ordered[-1]


@given(st.lists(finite, min_size=1, max_size=200), st.sampled_from([0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0]))
def test_percentile_matches_counting_reference(values: list[float], p: float) -> None:
    assert percentile(sorted(values), p) == reference_percentile(values, p)


@given(st.lists(finite, min_size=1, max_size=200))
def test_summary_matches_reference(values: list[float]) -> None:
    s = summarize(values)
    n = len(values)
    mean = sum(values) / n
    assert s.count == n
    assert s.min == min(values) and s.max == max(values)
    assert math.isclose(s.mean, mean, rel_tol=1e-9, abs_tol=1e-6)
    ref_sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    assert math.isclose(s.stdev, ref_sd, rel_tol=1e-6, abs_tol=1e-3)
    assert s.peak_jitter == max(values) - min(values)
    assert math.isclose(s.mean_jitter, sum(abs(v - mean) for v in values) / n, rel_tol=1e-6, abs_tol=1e-3)
    assert s.min <= s.p50 <= s.p90 <= s.p99 <= s.p999 <= s.max


def test_known_percentiles_of_1_to_1000() -> None:
    s = summarize(range(1, 1001))
    assert (s.p50, s.p90, s.p99, s.p999) == (500.0, 900.0, 990.0, 999.0)


def test_percentiles_of_ten_values_are_measured_values() -> None:
    s = summarize([10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
    assert (s.p50, s.p90, s.p99, s.p999) == (50.0, 90.0, 100.0, 100.0)


def test_empty_and_bad_input_raise_with_reason() -> None:
    with pytest.raises(StatsError, match="zero samples"):
        summarize([])
    with pytest.raises(ValueError, match="NaN"):
        summarize([1.0, float("nan")])
    with pytest.raises(StatsError, match=r"0\.\.100"):
        percentile([1.0], 101)


def test_account_counts_lost_out_of_order_duplicates_unexpected() -> None:
    a = account(range(10), [0, 1, 3, 2, 2, 5, 4, 9, 42])
    assert a.sent == 10
    assert a.received == 7
    assert a.lost == 3  # 6, 7, 8
    assert a.out_of_order == 2  # 2 after 3, 4 after 5
    assert a.duplicates == 1
    assert a.unexpected == 1


@given(st.permutations(list(range(30))))
def test_account_books_balance(order: list[int]) -> None:
    arrivals = order[: len(order) // 2]
    a = account(range(30), arrivals)
    assert a.received + a.lost == a.sent
    assert a.out_of_order <= a.received


def test_account_rejects_repeated_sent_seq() -> None:
    with pytest.raises(StatsError, match="sent twice"):
        account([1, 1], [])
