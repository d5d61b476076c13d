"""USB capture cost on the loopback: rig MIDI round trip and bulk throughput with vs without capture (<= +5%).

Both conditions run on one loopback target in alternating blocks (off, on, off, on, ...), so a change
in machine load hits both alike. Round trip: the rig's raw USB-MIDI latency run (run_latency over
UsbMidiLink), the p50 of each block. Throughput: bulk OUT and bulk IN of 1000-byte frames
(rig.measure.throughput), the rate of each block. The cost is the ratio of the conditions' medians
of block figures, with a bootstrap 95% interval over blocks (its width is the comparison's
resolution on a busy machine). "Off" is the device's own
backend (no proxy installed at all: capture off costs nothing by construction); "on" records every
transfer into a pcapng file in a temporary directory. The goal: each on/off ratio within 5%.
"""

from __future__ import annotations

import random
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

from rig.client.board import Board
from rig.links.recording_backend import RecordingBackend
from rig.measure import throughput as tp
from rig.measure.latency import LatencySettings, UsbMidiLink, run_latency
from rig.measure.model import Run, ThroughputResult
from rig.targets.loopback import LoopbackTarget
from rig.targets.registry import TargetSpec
from rig.targets.usb_capture import capturing

BLOCKS = 15
"""Blocks per condition (alternating)."""
RTT_SAMPLES = 300
FRAMES = 200
RESAMPLES = 2000
FRAME_BYTES = 1000
GOAL = 1.05


def _round_trip_p50(board: Board) -> list[float]:
    run = Run(kind="latency", path="midi-usb", target="loopback", target_kind="loopback", real_timing=False)
    run_latency(UsbMidiLink(board), LatencySettings(count=RTT_SAMPLES, warmup=20), run)
    if run.error is not None:
        raise RuntimeError(run.error)
    return [statistics.median(run.rtt_values_us())]


def _cost_interval(off: list[float], on: list[float], higher_is_better: bool) -> tuple[float, float]:
    """Bootstrap 95% interval of the cost ratio of medians, resampling blocks of each condition."""
    rng = random.Random(1)
    ratios = []
    for _ in range(RESAMPLES):
        a = statistics.median(rng.choices(off, k=len(off)))
        b = statistics.median(rng.choices(on, k=len(on)))
        ratios.append(a / b if higher_is_better else b / a)
    ratios.sort()
    return ratios[int(0.025 * RESAMPLES)], ratios[int(0.975 * RESAMPLES) - 1]


def _alternate(target: LoopbackTarget, workdir: Path,
               measure: Callable[[], list[float]]) -> dict[str, list[float]]:
    """`measure` in BLOCKS alternating off/on blocks; the figures of each condition pooled."""
    figures: dict[str, list[float]] = {"off": [], "on": []}
    device = target.usb_device()
    for block in range(2 * BLOCKS):
        on = block % 2 == 1
        path = workdir / f"block{block}.pcapng" if on else None
        with capturing(target, path):
            assert isinstance(device._ctx.backend, RecordingBackend) == on
            figures["on" if on else "off"] += measure()
        if path is not None:
            path.unlink()
    return figures


def _report(name: str, unit: str, figures: dict[str, list[float]], higher_is_better: bool) -> bool:
    off, on = statistics.median(figures["off"]), statistics.median(figures["on"])
    cost = off / on if higher_is_better else on / off
    low, high = _cost_interval(figures["off"], figures["on"], higher_is_better)
    ok = cost <= GOAL
    print(f"  {name:<34} off {off:10,.1f} {unit}  on {on:10,.1f} {unit}  cost x{cost:.3f} "
          f"({(cost - 1) * 100:+.1f}%, 95% {(low - 1) * 100:+.1f}..{(high - 1) * 100:+.1f}%)  "
          f"{'ok' if ok else f'OVER the {(GOAL - 1) * 100:.0f}% goal'}")
    return ok


def main() -> bool:
    """Alternate off/on blocks for the round trip and both bulk directions; the goal is each ratio."""
    target = LoopbackTarget(TargetSpec("loopback"), jack="never")
    ok = True
    with target, tempfile.TemporaryDirectory(prefix="rig-bench-capture-") as tmp:
        board = Board(target.usb_device())
        work = Path(tmp)
        rtt = _alternate(target, work, lambda: _round_trip_p50(board))
        ok &= _report("MIDI round trip p50 (raw USB-MIDI)", "us", rtt, higher_is_better=False)
        for label, direction in (("bulk OUT", tp.bulk_out), ("bulk IN", tp.bulk_in)):
            def block(direction: Callable[..., ThroughputResult] = direction) -> list[float]:
                return [direction(board, FRAME_BYTES, FRAMES).rate_per_s / 1000]

            rates = _alternate(target, work, block)
            ok &= _report(f"{label} {FRAME_BYTES} B frames", "kB/s", rates, higher_is_better=True)
        board.close()
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
