"""PNG plots of a run with matplotlib's Agg backend (no display needed): latency histogram, latency
over time, the one-way split, throughput over time. Each function returns the PNG bytes.

What keeps them honest and cheap: every throughput result gets its own panel and scale with its
ceiling drawn inside it; times switch to ms once figures pass 10 ms; tick labels are plain numbers
in a named unit (no "1e7" offsets); runs of many samples are aggregated (numpy histograms, per-bin
min/median/max over time) so a plot of 10^5+ samples costs about as much as one of 10^3.
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from rig.measure.model import Run, ThroughputResult
from rig.output import units

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TIME_BINS = 1000
"""Latency-over-time draws each sample up to this many; beyond, per-bin min, median and max."""
ONE_WAY_LABELS = {"host_to_device": "host -> device", "device_internal": "device internal",
                  "device_to_host": "device -> host"}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _title(run: Run, what: str) -> str:
    kind = "" if run.real_timing else f"  [{run.target_kind}: not device figures]"
    return f"{what} - {run.path} on {run.target}{kind}"


def _plain(ax: Axes, *, x: bool = True, y: bool = True) -> None:
    """Tick labels as plain numbers with thousands separators: no offset, no scientific notation."""
    formatter = FuncFormatter(lambda value, _pos: f"{value:,.6g}")
    for axis in ((ax.xaxis,) if x else ()) + ((ax.yaxis,) if y else ()):
        if axis.get_scale() == "log":
            # 1, 2, 5, 10, 20, 50...: labelled often enough within a decade; the minor ticks stay
            # unlabelled (matplotlib would label them "6x10^4")
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_minor_formatter(NullFormatter())
        axis.set_major_formatter(formatter)


def _rank(ordered: np.ndarray, p: float) -> float:
    """Nearest-rank percentile of sorted values (as rig.measure.stats computes it)."""
    return float(ordered[max(0, math.ceil(p * len(ordered) / 100) - 1)])


def latency_histogram(run: Run) -> bytes:
    """Histogram of round-trip times as PNG bytes (latency_histogram_figure)."""
    return _png(latency_histogram_figure(run))


def latency_histogram_figure(run: Run) -> Figure:
    """Histogram of round-trip times, with p50 and p99 marked; in ms above 10 ms."""
    values = np.sort(np.asarray(run.rtt_values_us(), dtype=float))
    fig, ax = plt.subplots(figsize=(8, 4))
    unit = "us"
    if len(values):
        # Rare outliers would squash the body into one bar: show up to p99 + 2 x (p99 - p50) and
        # count what lies beyond; a log scale keeps the tail visible. The unit follows what is shown.
        p50, p99 = _rank(values, 50), _rank(values, 99)
        hi = min(float(values[-1]), p99 + 2 * (p99 - p50))
        unit, div = units.time_scale(hi)
        shown = values[values <= hi] / div
        beyond = len(values) - len(shown)
        counts, edges = np.histogram(shown, bins=min(100, max(10, len(shown) // 10)))
        ax.stairs(counts, edges, fill=True, color="#3b75af",
                  label=f"{len(shown)} samples" + (f" ({beyond} beyond {hi / div:,.1f} {unit}, max "
                                                   f"{values[-1] / div:,.1f})" if beyond else ""))
        ax.set_yscale("log")
        for p, value, style in ((50, p50, "--"), (99, p99, ":")):
            ax.axvline(value / div, color="black", linestyle=style, label=f"p{p} {value / div:,.1f} {unit}")
        ax.legend(fontsize=8)
        _plain(ax)
    else:
        ax.text(0.5, 0.5, "no samples received", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"round trip ({unit})")
    ax.set_ylabel("samples")
    ax.set_title(_title(run, "Latency histogram"), fontsize=9)
    return fig


def latency_over_time(run: Run) -> bytes:
    """Round trip over time as PNG bytes (latency_over_time_figure)."""
    return _png(latency_over_time_figure(run))


def latency_over_time_figure(run: Run) -> Figure:
    """Round trip of every measured sample against its send time (per-bin min, median and max when
    there are more than TIME_BINS); lost ones marked at the top."""
    measured = run.measured
    fig, ax = plt.subplots(figsize=(8, 4))
    received = [s for s in measured if s.rtt_us is not None]
    ys_us = np.asarray([s.rtt_us for s in received], dtype=float)
    unit, div = units.time_scale(float(ys_us.max()) if len(ys_us) else 0.0)
    if measured:
        t0 = measured[0].sent_ns
        xs = (np.asarray([s.sent_ns for s in received], dtype=float) - t0) / 1e9
        ys = ys_us / div
        if len(ys) > TIME_BINS:
            edges = np.linspace(float(xs[0]), float(xs[-1]), TIME_BINS + 1)
            which = np.clip(np.searchsorted(edges, xs, side="right") - 1, 0, TIME_BINS - 1)
            order = np.lexsort((ys, which))
            starts = np.searchsorted(which[order], np.arange(TIME_BINS))
            ends = np.searchsorted(which[order], np.arange(TIME_BINS), side="right")
            full = ends > starts
            low = ys[order][starts[full]]
            high = ys[order][ends[full] - 1]
            mid = ys[order][(starts[full] + ends[full] - 1) // 2]
            centre = (edges[:-1] + edges[1:])[full] / 2
            ax.fill_between(centre, low, high, color="#9cc3e6",
                            label=f"min..max per {TIME_BINS}th of the run")
            ax.plot(centre, mid, color="#3b75af", linewidth=0.8, label="median")
        elif len(ys):
            ax.plot(xs, ys, ".", markersize=2, color="#3b75af", label="round trip")
        if len(ys) and float(ys.min()) > 0:
            ax.set_yscale("log")
        lost = [(s.sent_ns - t0) / 1e9 for s in measured if s.lost]
        if lost:
            top = float(ys.max()) if len(ys) else 1.0
            ax.plot(lost, [top] * len(lost), "x", color="red", label=f"lost ({len(lost)})")
        ax.legend(fontsize=8)
        _plain(ax, x=True, y=True)
    ax.set_xlabel("time since first measured send (s)")
    ax.set_ylabel(f"round trip ({unit})")
    ax.set_title(_title(run, "Latency over time"), fontsize=9)
    return fig


def latency_one_way(run: Run) -> bytes:
    """The one-way split as PNG bytes (latency_one_way_figure)."""
    return _png(latency_one_way_figure(run))


def latency_one_way_figure(run: Run) -> Figure:
    """The round trip split from device time stamps: host -> device, inside the device, device -> host,
    one box (p1..p99 whiskers, median line) per part, in the same unit."""
    parts = {k: np.asarray(v, dtype=float) for k, v in run.one_way_us().items() if v}
    fig, ax = plt.subplots(figsize=(8, 3.2))
    largest = max((float(np.abs(v).max()) for v in parts.values()), default=0.0)
    unit, div = units.time_scale(largest)
    if parts:
        labels = [f"{ONE_WAY_LABELS.get(k, k)}\np50 {float(np.median(v)) / div:,.3g} {unit}"
                  for k, v in parts.items()]
        ax.boxplot([v / div for v in parts.values()], orientation="horizontal", whis=(1, 99),
                   showfliers=False)
        ax.set_yticks(range(1, len(labels) + 1), labels, fontsize=8)
        ax.invert_yaxis()
        _plain(ax, y=False)
        if run.clock is None:
            ax.text(0.99, 0.02, "no clock fit: device internal only (device clock)", ha="right",
                    fontsize=7, transform=ax.transAxes)
    else:
        ax.text(0.5, 0.5, "no device time stamps", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"one-way latency ({unit}; box p25..p75, whiskers p1..p99)")
    ax.set_title(_title(run, "One-way split"), fontsize=9)
    fig.tight_layout()
    return fig


def _panel_name(t: ThroughputResult) -> str:
    return f"{t.direction} {t.payload_len} B frames" if t.unit == "bytes" else t.direction


def throughput_over_time(run: Run) -> bytes:
    """Throughput over time as PNG bytes (throughput_over_time_figure)."""
    return _png(throughput_over_time_figure(run))


def throughput_over_time_figure(run: Run) -> Figure:
    """One panel per throughput result (direction and frame size), each with its own scale and its
    full-speed ceiling as a dashed line inside it; rates as rig.measure.throughput averages them."""
    results = run.throughput
    cols = 1 if len(results) <= 1 else 2
    rows = max(1, math.ceil(len(results) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 2.4 * rows + 0.6), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index >= len(results):
            ax.set_visible(index == 0)
            if index == 0:
                ax.text(0.5, 0.5, "no throughput measured", ha="center", transform=ax.transAxes)
            continue
        t = results[index]
        xs = [x for x, _ in t.series] or [0.0]
        ys = [y for _, y in t.series] or [0.0]
        label, div = units.rate_scale(t.unit, max(max(ys), t.ceiling_per_s))
        ax.plot(xs, [y / div for y in ys], color="#3b75af", label=f"mean {t.rate_per_s / div:,.3g}")
        ax.axhline(t.ceiling_per_s / div, color="#c0392b", linestyle="--", linewidth=1,
                   label=f"ceiling {t.ceiling_per_s / div:,.3g}")
        ax.set_ylim(0, max(max(ys), t.ceiling_per_s) / div * 1.12)
        if max(ys) > t.ceiling_per_s:
            ax.text(0.02, 0.04, "above the bus ceiling" + ("" if run.real_timing else
                                                          ": this target does not model USB bus timing"),
                    fontsize=6, color="#c0392b", transform=ax.transAxes)
        ax.set_title(_panel_name(t), fontsize=8)
        ax.set_ylabel(label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, loc="lower right")
        _plain(ax)
        if index >= len(results) - cols:
            ax.set_xlabel("time since the direction started (s)", fontsize=8)
    fig.suptitle(_title(run, "Throughput over time"), fontsize=9)
    fig.tight_layout()
    return fig


def all_plots(run: Run) -> dict[str, bytes]:
    """The plots that make sense for this run, by file stem (none when it gives no timing figures)."""
    if run.no_timing is not None:
        return {}
    if run.kind == "latency":
        plots = {"latency_histogram": latency_histogram(run), "latency_over_time": latency_over_time(run)}
        if any(s.device_rx_us is not None and s.received_ns is not None for s in run.measured):
            plots["latency_one_way"] = latency_one_way(run)
        return plots
    return {"throughput_over_time": throughput_over_time(run)}
