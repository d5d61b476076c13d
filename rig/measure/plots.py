"""PNG plots of a run with matplotlib's Agg backend (no display needed): latency histogram, latency
over time, throughput over time. Each function returns the PNG bytes."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from rig.measure.model import Run

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _title(run: Run, what: str) -> str:
    kind = "" if run.real_timing else f"  [{run.target_kind}: not device figures]"
    return f"{what} - {run.path} on {run.target}{kind}"


def latency_histogram(run: Run) -> bytes:
    """Histogram of round-trip times (us), with p50 and p99 marked."""
    values = run.rtt_values_us()
    fig, ax = plt.subplots(figsize=(8, 4))
    if values:
        ordered = sorted(values)

        def rank(p: int) -> float:
            return ordered[max(0, -(-p * len(ordered) // 100) - 1)]

        # Rare outliers would squash the body into one bar: show up to p99 + 2 x (p99 - p50) and
        # count what lies beyond; a log scale keeps the tail visible.
        hi = min(ordered[-1], rank(99) + 2 * (rank(99) - rank(50)))
        shown = [v for v in ordered if v <= hi]
        beyond = len(ordered) - len(shown)
        ax.hist(shown, bins=min(100, max(10, len(shown) // 10)), color="#3b75af",
                label=f"{len(shown)} samples" + (f" ({beyond} beyond {hi:.0f} us, max {ordered[-1]:.0f})"
                                                   if beyond else ""))
        ax.set_yscale("log")
        for p, style in ((50, "--"), (99, ":")):
            ax.axvline(rank(p), color="black", linestyle=style, label=f"p{p} {rank(p):.1f} us")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no samples received", ha="center", transform=ax.transAxes)
    ax.set_xlabel("round trip (us)")
    ax.set_ylabel("samples")
    ax.set_title(_title(run, "Latency histogram"), fontsize=9)
    return _png(fig)


def latency_over_time(run: Run) -> bytes:
    """Round trip (us) of every measured sample against its send time; lost ones marked at the top."""
    measured = run.measured
    fig, ax = plt.subplots(figsize=(8, 4))
    if measured:
        t0 = measured[0].sent_ns
        xs = [(s.sent_ns - t0) / 1e9 for s in measured if s.rtt_us is not None]
        ys = [s.rtt_us for s in measured if s.rtt_us is not None]
        ax.plot(xs, ys, ".", markersize=2, color="#3b75af", label="round trip")
        if ys and min(ys) > 0:
            ax.set_yscale("log")
        lost = [(s.sent_ns - t0) / 1e9 for s in measured if s.lost]
        if lost:
            top = max(ys) if ys else 1.0
            ax.plot(lost, [top] * len(lost), "x", color="red", label=f"lost ({len(lost)})")
        ax.legend()
    ax.set_xlabel("time since first measured send (s)")
    ax.set_ylabel("round trip (us)")
    ax.set_title(_title(run, "Latency over time"), fontsize=9)
    return _png(fig)


def throughput_over_time(run: Run) -> bytes:
    """Rate over time of every throughput direction, one panel per unit (bytes, events), each with
    its full-speed ceiling as a dashed line in the same colour."""
    units = sorted({t.unit for t in run.throughput}) or ["bytes"]
    fig, axes = plt.subplots(len(units), 1, figsize=(8, 3.2 * len(units)), squeeze=False)
    for ax, unit in zip(axes[:, 0], units, strict=True):
        for t in (t for t in run.throughput if t.unit == unit):
            label = f"{t.direction} ({t.payload_len} B)" if unit == "bytes" else t.direction
            xs = [x for x, _ in t.series] or [0.0]
            ys = [y for _, y in t.series] or [0.0]
            line = ax.plot(xs, ys, label=label)
            ax.axhline(t.ceiling_per_s, color=line[0].get_color(), linestyle="--", linewidth=0.8)
        if run.throughput:
            ax.legend(fontsize=7)
        ax.set_ylabel(f"{unit}/s (dashed: ceiling)")
        ax.set_xlabel("time since the direction started (s)")
    axes[0, 0].set_title(_title(run, "Throughput over time"), fontsize=9)
    fig.tight_layout()
    return _png(fig)


def all_plots(run: Run) -> dict[str, bytes]:
    """The plots that make sense for this run, by file stem (none when it gives no timing figures)."""
    if run.no_timing is not None:
        return {}
    if run.kind == "latency":
        return {"latency_histogram": latency_histogram(run), "latency_over_time": latency_over_time(run)}
    return {"throughput_over_time": throughput_over_time(run)}
