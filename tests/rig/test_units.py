"""rig.output.units: figures in the unit a person reads (issue #17: no "406178kB/s")."""

from __future__ import annotations

import pytest

from rig.output import units


@pytest.mark.parametrize(("value", "unit", "text"), [
    (406_178_000.0, "bytes", "406 MB/s"), (1_216_000.0, "bytes", "1.22 MB/s"),
    (608_000.0, "bytes", "608 kB/s"), (512.0, "bytes", "512 B/s"), (98_200.0, "events", "98.2 k events/s"),
    (304_000.0, "events", "304 k events/s"), (12.0, "events", "12 events/s")])
def test_rates(value: float, unit: str, text: str) -> None:
    assert units.rate(value, unit) == text


@pytest.mark.parametrize(("us", "text"), [(83.7, "83.7 us"), (1749.4, "1,749.4 us"),
                                          (10_000.0, "10,000.0 us"), (25_024.0, "25.02 ms")])
def test_durations(us: float, text: str) -> None:
    assert units.duration(us) == text
