"""USB capture cost on the loopback: rig MIDI round trip and bulk throughput with vs without capture (<= +5%).

Both conditions run on one loopback target in alternating blocks (off on, on off, off on, ...; a first
pair warms both and is not counted), so a change in machine load hits both alike. Round trip: the
rig's raw USB-MIDI latency run (run_latency over UsbMidiLink), the p50 of each block. Throughput:
bulk OUT and bulk IN of 1000-byte frames (rig.measure.throughput), the rate of each block by the
wall clock and per second of this process's CPU time. The loopback board runs in this process, so its
CPU time is the whole path's cost; on this shared 2-core machine the wall-clock rate of a bulk block
swings by tens of percent with other jobs' load (a 95% interval of -20..+40% cannot judge 5%), so the
bulk goal is taken on the CPU figure and the wall-clock figure is printed beside it. The round
trip's goal stays on its wall-clock p50 (a latency), with its CPU time per round trip beside it. The
cost is the ratio of the conditions' medians of block figures, with a bootstrap 95% interval over
blocks (its width is the comparison's resolution on a busy machine). "Off" is the device's own
backend (no proxy installed at all: capture off costs nothing by construction); "on" records every
transfer into a pcapng file in a temporary directory. The goal: each on/off ratio within 5%.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
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
FRAMES = 1000
RESAMPLES = 2000
FRAME_BYTES = 1000
GOAL = 1.05


def _round_trip_p50(board: Board) -> list[float]:
    """The block's round-trip p50 (us), and the CPU time the process spent per round trip (us)."""
    run = Run(kind="latency", path="midi-usb", target="loopback", target_kind="loopback", real_timing=False)
    cpu = time.process_time()
    run_latency(UsbMidiLink(board), LatencySettings(count=RTT_SAMPLES, warmup=20), run)
    cpu = time.process_time() - cpu
    if run.error is not None:
        raise RuntimeError(run.error)
    return [statistics.median(run.rtt_values_us()), cpu / (RTT_SAMPLES + 20) * 1e6]


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
               measure: Callable[[], list[float]]) -> dict[str, list[list[float]]]:
    """`measure` in pairs of blocks, one per condition, the order turning each pair (off on, on off,
    off on, ...) so neither condition always runs first; the first pair only warms both and is not
    counted. Per condition, the figures `measure` returns, one list per block."""
    figures: dict[str, list[list[float]]] = {"off": [], "on": []}
    device = target.usb_device()
    for block in range(2 * (BLOCKS + 1)):
        pair, second = divmod(block, 2)
        on = bool(second ^ pair % 2)
        path = workdir / f"block{block}.pcapng" if on else None
        with capturing(target, path):
            assert isinstance(device._ctx.backend, RecordingBackend) == on
            got = measure()
        if pair:
            figures["on" if on else "off"].append(got)
        if path is not None:
            path.unlink()
    return figures


def _report(name: str, unit: str, blocks: dict[str, list[list[float]]], index: int, higher_is_better: bool,
            judged: bool = True) -> bool:
    """Print one figure (`index` of each block's figures) off and on, and its cost; True when the
    cost is within the goal or the figure is information only (`judged` False)."""
    figures = {cond: [block[index] for block in got] for cond, got in blocks.items()}
    off, on = statistics.median(figures["off"]), statistics.median(figures["on"])
    cost = off / on if higher_is_better else on / off
    low, high = _cost_interval(figures["off"], figures["on"], higher_is_better)
    ok = cost <= GOAL or not judged
    verdict = ("ok" if ok else f"OVER the {(GOAL - 1) * 100:.0f}% goal") if judged else "(information)"
    print(f"  {name:<40} off {off:10,.1f} {unit:<10} on {on:10,.1f} {unit:<10} cost x{cost:.3f} "
          f"({(cost - 1) * 100:+.1f}%, 95% {(low - 1) * 100:+.1f}..{(high - 1) * 100:+.1f}%)  {verdict}")
    return ok


def main() -> bool:
    """Alternate off/on blocks for the round trip and both bulk directions; the goal is each ratio."""
    target = LoopbackTarget(TargetSpec("loopback"), jack="never")
    ok = True
    with target, tempfile.TemporaryDirectory(prefix="rig-bench-capture-") as tmp:
        board = Board(target.usb_device())
        work = Path(tmp)
        rtt = _alternate(target, work, lambda: _round_trip_p50(board))
        ok &= _report("MIDI round trip p50 (raw USB-MIDI)", "us", rtt, 0, higher_is_better=False)
        _report("  CPU time per round trip", "us", rtt, 1, higher_is_better=False, judged=False)
        for label, direction in (("bulk OUT", tp.bulk_out), ("bulk IN", tp.bulk_in)):
            def block(direction: Callable[..., ThroughputResult] = direction) -> list[float]:
                cpu = time.process_time()
                wall = direction(board, FRAME_BYTES, FRAMES).rate_per_s / 1000
                return [wall, FRAME_BYTES * FRAMES / 1000 / (time.process_time() - cpu)]

            rates = _alternate(target, work, block)
            _report(f"{label} {FRAME_BYTES} B frames, wall clock", "kB/s", rates, 0, higher_is_better=True,
                    judged=False)
            ok &= _report(f"{label} {FRAME_BYTES} B frames, per CPU second", "kB/cpu-s", rates, 1,
                          higher_is_better=True)
        board.close()
    return ok


if __name__ == "__main__":
    raise SystemExit(0 if main() else 1)
