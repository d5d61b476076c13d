"""Figures in the units a person reads: rates in kB/s or MB/s (events in k events/s), latencies in
us below 10 ms and ms above. One place, so the console, the reports, the history and the plots agree."""

from __future__ import annotations

MS_ABOVE_US = 10_000.0
"""Latencies are shown in ms once they pass 10 ms, else in us."""


def time_scale(largest_us: float) -> tuple[str, float]:
    """The unit for latencies up to `largest_us` and the divisor from us: ("ms", 1000) or ("us", 1)."""
    return ("ms", 1000.0) if largest_us > MS_ABOVE_US else ("us", 1.0)


def duration(us: float) -> str:
    """`83.7 us`, `1,749.4 us`, `25.02 ms`."""
    unit, div = time_scale(us)
    return f"{us / div:,.2f} ms" if unit == "ms" else f"{us:,.1f} us"


def rate_scale(unit: str, largest: float) -> tuple[str, float]:
    """A rate unit for values up to `largest` of `unit` per second ("bytes" or "events") and its
    divisor: MB/s or kB/s (B/s below 1 kB/s); k events/s or events/s."""
    if unit == "bytes":
        if largest >= 1e6:
            return "MB/s", 1e6
        return ("kB/s", 1e3) if largest >= 1e3 else ("B/s", 1.0)
    return ("k events/s", 1e3) if largest >= 1e3 else ("events/s", 1.0)


def rate(value: float, unit: str) -> str:
    """`406 MB/s`, `1.22 MB/s`, `98.2 k events/s`: three significant figures in the unit that fits."""
    label, div = rate_scale(unit, value)
    return f"{value / div:,.3g} {label}"
