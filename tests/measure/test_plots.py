"""The plots' structure, so none can silently regress: every throughput result in its own panel with
its ceiling inside the axis, readable units and plain tick labels, ms above 10 ms, the one-way split,
bounded drawing for long runs, and rates that never exceed what was carried (issue #17)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.axes import Axes

from rig.measure import plots
from rig.measure.model import Run, ThroughputResult, frame_ceiling_payload_per_s
from rig.measure.throughput import _Series

from .synthetic import latency_run, throughput_run


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def tick_texts(ax: Axes) -> list[str]:
    ax.figure.canvas.draw()
    texts = [t.get_text() for minor in (False, True)
             for t in ax.get_xticklabels(minor=minor) + ax.get_yticklabels(minor=minor)]
    texts += [ax.xaxis.get_offset_text().get_text(), ax.yaxis.get_offset_text().get_text()]
    return [t for t in texts if t]


def assert_plain_ticks(ax: Axes) -> None:
    """No "1e7" offset, no "x10^4" multiplier, no scientific notation in any tick label."""
    for text in tick_texts(ax):
        assert not re.search(r"\de[+-]?\d|\u00d7|times|\^|\$", text), text


def first(values: object) -> float:
    """The first of a Line2D's data values."""
    return float(np.asarray(values).flat[0])


def dashed_levels(ax: Axes) -> list[float]:
    return [first(line.get_ydata()) for line in ax.get_lines() if line.get_linestyle() == "--"]


def mixed_throughput_run() -> Run:
    """Bulk OUT at 64 B and 4 KiB (rates 30x apart) and MIDI out: the case that hid the ceilings."""
    run = Run(kind="throughput", path="usb", target="loopback", target_kind="loopback", real_timing=False)
    for size, rate in ((64, 400_000.0), (4096, 12_000_000.0)):
        run.throughput.append(ThroughputResult("bulk-out", "bytes", size, 1000, int(rate), 1.0,
                                               frame_ceiling_payload_per_s(size),
                                               [(0.1 * k, rate) for k in range(1, 11)]))
    run.throughput.append(ThroughputResult("midi-out", "events", 0, 20000, 20000, 0.2, 304_000.0,
                                           [(0.02 * k, 98_000.0) for k in range(1, 11)]))
    return run


def test_every_throughput_result_has_its_own_panel_scale_and_ceiling() -> None:
    run = mixed_throughput_run()
    fig = plots.throughput_over_time_figure(run)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["bulk-out 64 B frames", "bulk-out 4096 B frames", "midi-out"]
    assert [ax.get_ylabel() for ax in panels] == ["kB/s", "MB/s", "k events/s"]
    for ax, result in zip(panels, run.throughput, strict=True):
        divisor = {"kB/s": 1e3, "MB/s": 1e6, "k events/s": 1e3}[ax.get_ylabel()]
        (ceiling,) = dashed_levels(ax)
        assert ceiling == pytest.approx(result.ceiling_per_s / divisor)
        low, high = ax.get_ylim()
        assert low == 0 and high > ceiling and high > max(y for _, y in result.series) / divisor
        assert_plain_ticks(ax)
        assert ax.get_legend() is not None
    assert "loopback: not device figures" in fig.get_suptitle()
    above = [ax.get_title() for ax in panels
             if any("above the bus ceiling" in t.get_text() for t in ax.texts)]
    assert above == ["bulk-out 4096 B frames"]  # 12 MB/s on a 1.2 MB/s bus: said, not hidden


def test_latency_axes_switch_to_ms_above_10_ms_and_stay_in_us_below() -> None:
    slow = latency_run(n=300, base_us=25_000)
    fast = latency_run(n=300, base_us=300)
    for run, unit in ((slow, "ms"), (fast, "us")):
        hist = plots.latency_histogram_figure(run).axes[0]
        over = plots.latency_over_time_figure(run).axes[0]
        assert hist.get_xlabel() == f"round trip ({unit})"
        assert over.get_ylabel() == f"round trip ({unit})"
        assert_plain_ticks(hist)
        assert_plain_ticks(over)
        p50_line = next(line for line in hist.get_lines() if line.get_linestyle() == "--")
        expected = 25.024 if unit == "ms" else 324.0
        assert first(p50_line.get_xdata()) == pytest.approx(expected, rel=0.01)


def test_one_way_split_is_plotted_with_its_three_parts() -> None:
    fig = plots.latency_one_way_figure(latency_run(n=300))
    ax = fig.axes[0]
    labels = [t.get_text().split("\n")[0] for t in ax.get_yticklabels()]
    assert labels == ["host -> device", "device internal", "device -> host"]
    assert ax.get_xlabel().startswith("one-way latency (us")
    assert "latency_one_way" in plots.all_plots(latency_run(n=50))
    assert "latency_one_way" not in plots.all_plots(latency_run(n=50, stamps=False))


def test_a_long_run_draws_a_bounded_number_of_points() -> None:
    run = latency_run(n=100_000)
    ax = plots.latency_over_time_figure(run).axes[0]
    drawn = sum(np.asarray(line.get_xdata()).size for line in ax.get_lines())
    assert drawn <= plots.TIME_BINS + 10  # median line plus lost markers, not 10^5 dots
    legend = ax.get_legend()
    assert legend is not None and any("min..max" in t.get_text() for t in legend.get_texts())


@pytest.mark.parametrize("name", ["latency_histogram", "latency_over_time", "latency_one_way"])
def test_latency_plots_render_to_a_non_blank_image(name: str) -> None:
    height, width, colours = decoded(getattr(plots, name)(latency_run(n=200)))
    assert height >= 300 and width >= 700 and colours > 10  # drawn, not one colour


def test_throughput_plot_renders_to_a_non_blank_image() -> None:
    height, width, colours = decoded(plots.throughput_over_time(throughput_run()))
    assert height >= 200 and width >= 500 and colours > 10


def decoded(png: bytes) -> tuple[int, int, int]:
    """Height, width and the number of distinct colours (sampled) of a PNG."""
    image = np.asarray(matplotlib.image.imread(io.BytesIO(png)))
    height, width, depth = image.shape
    return height, width, len(np.unique(image[::7, ::7].reshape(-1, depth), axis=0))


def test_rates_never_exceed_what_was_carried_when_writes_complete_in_a_batch() -> None:
    """A 60 ms stall, then 1250 writes of 16 events completing 0.1 ms apart, then 9 ms of quiet while
    the device drains: the old averaging showed 0 then a spike far above the mean; spread over the
    time each transfer took, every window shows at most what the transfers carried."""
    series = _Series(0)
    t = 60_000_000
    for _ in range(1250):
        series.add(16, t)
        t += 100_000
    points = series.points
    total_s = points[-1][0]
    carried = sum(rate * width for (_, rate), width in zip(points, windows(points), strict=True))
    assert carried == pytest.approx(20_000)
    fastest = 16 / 100e-6  # one write's own rate: the most any stretch of time carried
    assert max(rate for _, rate in points) <= fastest * 1.0001
    assert points[0][1] < 20_000 / total_s  # the stall shows as a stall, not folded into a spike


def windows(points: list[tuple[float, float]]) -> list[float]:
    ends = [end for end, _ in points]
    return [b - a for a, b in zip([0.0, *ends[:-1]], ends, strict=True)]


def test_series_points_sum_to_the_amount_moved_for_uneven_transfers() -> None:
    series = _Series(1_000)
    times = [1_000, 5_000_000, 5_000_001, 40_000_000, 90_000_000, 90_000_000, 250_000_000]
    for k, t in enumerate(times):
        series.add(100 * (k + 1), t)
    points = series.points
    carried = sum(rate * width for (_, rate), width in zip(points, windows(points), strict=True))
    assert carried == pytest.approx(sum(100 * (k + 1) for k in range(len(times))))


def test_steady_batches_plot_as_a_steady_rate() -> None:
    """Writes completing ten at a time every 5 ms carry 32,000 events/s steadily; counting each whole
    batch in the short window where it completed drew zeros and spikes of 2.5x the mean instead."""
    series = _Series(0)
    for burst in range(1, 21):
        for k in range(10):
            series.add(16, burst * 5_000_000 + k * 1_000)
    rates = [rate for _, rate in series.points]
    mean = 20 * 10 * 16 / 0.1
    assert max(rates) < 1.3 * mean and min(rates) > 0.7 * mean, rates


def test_a_short_run_of_two_windows_joins_its_sliver() -> None:
    """6 ms of transfers make two 5 ms windows, the second a 1 ms sliver joined to the first (the
    join once stored past the end of the list: IndexError on the bulk IN 64 B run of a loopback)."""
    series = _Series(0)
    series.add(100, 1_000_000)
    series.add(100, 6_000_000)
    points = series.points
    assert len(points) == 1
    assert points[0][1] * points[0][0] == pytest.approx(200)
