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

from rig.errors import RigError

PERCENTILES: tuple[float, ...] = (50.0, 90.0, 99.0, 99.9)
"""The percentiles every summary reports."""


class StatsError(RigError, ValueError):
    """Statistics were asked of input they are not defined for (the message says what)."""


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values: the value at rank ceil(p/100 * n)."""
    if not sorted_values:
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


def summarize(values: Iterable[float]) -> Summary:
    """Count, min, p50/p90/p99/p99.9, max, mean, standard deviation and jitter of `values`."""
    data = sorted(float(v) for v in values)
    if not data:
        raise StatsError("cannot summarize zero samples (were all messages lost or discarded?)")
    if any(math.isnan(v) or math.isinf(v) for v in data):
        raise StatsError("samples contain NaN or infinity")
    n = len(data)
    mean = math.fsum(data) / n
    var = math.fsum((v - mean) ** 2 for v in data) / (n - 1) if n > 1 else 0.0
    mean_jitter = math.fsum(abs(v - mean) for v in data) / n
    p50, p90, p99, p999 = (percentile(data, p) for p in PERCENTILES)
    return Summary(count=n, min=data[0], p50=p50, p90=p90, p99=p99, p999=p999, max=data[-1],
                   mean=mean, stdev=math.sqrt(var), peak_jitter=data[-1] - data[0],
                   mean_jitter=mean_jitter)


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


def account(sent: Iterable[int], arrivals: Iterable[int]) -> SequenceAccount:
    """Lost, out-of-order, duplicate and unexpected counts from sent seqs and seqs in arrival order."""
    sent_set: set[int] = set()
    sent_count = 0
    for seq in sent:
        if seq in sent_set:
            raise StatsError(f"sequence number {seq} was sent twice; sent sequence numbers must be unique")
        sent_set.add(seq)
        sent_count += 1
    seen: set[int] = set()
    highest: int | None = None
    out_of_order = duplicates = unexpected = 0
    for seq in arrivals:
        if seq not in sent_set:
            unexpected += 1
            continue
        if seq in seen:
            duplicates += 1
            continue
        if highest is not None and seq < highest:
            out_of_order += 1
        highest = seq if highest is None else max(highest, seq)
        seen.add(seq)
    return SequenceAccount(sent=sent_count, received=len(seen), lost=sent_count - len(seen),
                           out_of_order=out_of_order, duplicates=duplicates, unexpected=unexpected)
