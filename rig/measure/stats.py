"""Summary statistics of latency samples and sequence-number accounting.

Percentiles are exact and use the nearest-rank method: the p-th percentile of n sorted values is
the value at 1-based rank ceil(p/100 * n) (rank 1 for p = 0), so every reported percentile is a
value that was actually measured. Jitter follows the definitions jack_midi_latency_test uses:
peak jitter = max - min, mean jitter = mean absolute deviation from the mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from rig.errors import RigError

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)
"""The percentiles every summary reports."""


class StatsError(RigError, ValueError):
    """Statistics were asked of input they are not defined for (the message says what)."""


def percentile(sorted_values: Sequence[float] | npt.NDArray[np.float64], p: float) -> float:
    """Nearest-rank percentile of already sorted values: the value at rank ceil(p/100 * n)."""
    if len(sorted_values) == 0:
        raise StatsError("percentile of an empty sample set is undefined")
    if not 0.0 <= p <= 100.0:
        raise StatsError(f"percentile p must be within 0..100, got {p!r}")
    n = len(sorted_values)
    # Round the product first so that e.g. 99.9/100 * 1000 is exactly 999, not 999.0000000000001.
    rank = max(1, math.ceil(round(p / 100.0 * n, 9)))
    return float(sorted_values[min(rank, n) - 1])


@dataclass(frozen=True)
class Summary:
    """Distribution of one set of values (latencies in microseconds, by convention of the callers)."""

    count: int
    min: float
    p50: float
    p90: float
    p99: float
    p999: float
    max: float
    mean: float
    stdev: float
    """Sample standard deviation (n - 1 in the denominator); 0 for a single value."""
    peak_jitter: float
    """max - min."""
    mean_jitter: float
    """Mean absolute deviation from the mean."""

    def as_dict(self) -> dict[str, float | int]:
        """Plain dict for JSON and the history database."""
        return asdict(self)


def summarize(values: Iterable[float] | npt.NDArray[np.float64]) -> Summary:
    """Count, min, p50/p90/p99/p99.9, max, mean, standard deviation and jitter of `values` (a numpy
    array is taken as it is: 10^6 values summarise in tens of milliseconds)."""
    data = np.sort(np.asarray(values if isinstance(values, np.ndarray) else list(values), dtype=np.float64))
    if data.size == 0:
        raise StatsError("cannot summarize zero samples (were all messages lost or discarded?)")
    if not np.isfinite(data).all():
        raise StatsError("samples contain NaN or infinity")
    n = int(data.size)
    # numpy's pairwise sums over the sorted values: the figures do not depend on sample order
    mean = float(data.sum()) / n
    deviation = data - mean
    var = float((deviation * deviation).sum()) / (n - 1) if n > 1 else 0.0
    mean_jitter = float(np.abs(deviation).sum()) / n
    p50, p90, p99, p999 = (percentile(data, p) for p in PERCENTILES)
    lo, hi = float(data[0]), float(data[-1])
    return Summary(count=n, min=lo, p50=p50, p90=p90, p99=p99, p999=p999, max=hi,
                   mean=mean, stdev=math.sqrt(var), peak_jitter=hi - lo, mean_jitter=mean_jitter)


@dataclass(frozen=True)
class SequenceAccount:
    """What happened to every sequence number that was sent."""

    sent: int
    received: int
    """Distinct sent sequence numbers that came back."""
    lost: int
    """Sent but never received."""
    out_of_order: int
    """Arrivals whose sequence number is lower than one that arrived before it."""
    duplicates: int
    """Arrivals of a sequence number that had already arrived."""
    unexpected: int
    """Arrivals of a sequence number that was never sent."""

    def as_dict(self) -> dict[str, int]:
        """Plain dict for JSON and the history database."""
        return asdict(self)


def account(sent: Iterable[int] | npt.NDArray[np.int64],
            arrivals: Iterable[int] | npt.NDArray[np.int64]) -> SequenceAccount:
    """Lost, out-of-order, duplicate and unexpected counts from sent seqs and seqs in arrival order
    (numpy arrays taken as they are; linear after one sort)."""
    sent_a = _ints(sent)
    ordered = np.sort(sent_a)
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if repeated.size:
        raise StatsError(f"sequence number {int(repeated[0])} was sent twice; sent sequence numbers must "
                         f"be unique")
    arr = _ints(arrivals)
    known = np.isin(arr, ordered)
    unexpected = int(arr.size - np.count_nonzero(known))
    arr = arr[known]
    _, first_index = np.unique(arr, return_index=True)
    first = np.zeros(arr.size, dtype=bool)
    first[first_index] = True
    # out of order: a first arrival below the highest seq that arrived before it (a repeat never
    # raises that highest, having arrived before)
    before = np.maximum.accumulate(arr)[:-1] if arr.size else arr
    out_of_order = int(np.count_nonzero(first[1:] & (arr[1:] < before)))
    received = int(first_index.size)
    return SequenceAccount(sent=int(sent_a.size), received=received, lost=int(sent_a.size) - received,
                           out_of_order=out_of_order, duplicates=int(arr.size) - received,
                           unexpected=unexpected)


def _ints(values: Iterable[int] | npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    if isinstance(values, np.ndarray):
        return values.astype(np.int64, copy=False)
    return np.fromiter(values, dtype=np.int64)
