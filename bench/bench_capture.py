"""USB capture cost on the loopback: MIDI round trip and bulk rates, capture on vs off (<= +5%), off vs none.

Three conditions on one loopback board in one process, in rounds: "none" runs the measurement bare,
no capture code on its path; "off" runs it as `rig latency`/`rig throughput` do without --capture
(`capturing(target, None)`, a step `mark`), on a device that has been recorded before and got its
own backend object back (checked by identity: the transfer path is the very code "none" runs); "on"
records the board into a pcapng file (every transfer's Submit and Complete, OUT data, IN data,
statuses, the step's comment) in a temporary directory. Each round runs one block per condition,
the order turning through all six permutations, so a change in machine load hits all three alike;
a first round warms every path and is not counted. Per round the cost is the ratio of the figures of
two of its blocks (on vs off, off vs none); the verdict is on the median of those per-round ratios,
printed with their interquartile range and a bootstrap 99% interval of the median (its width is the
comparison's resolution on a loaded machine).

Figures per block: the rig's raw USB-MIDI round trip (run_latency over UsbMidiLink), its p50 by the
wall clock and the process's CPU time per round trip (time.process_time: the loopback board runs in
this process, so that is the whole path's cost); bulk OUT and bulk IN of 1000-byte frames
(rig.measure.throughput), the rate by the wall clock and per CPU second. Judged: the round trip's
wall-clock p50 (a latency: preempted round trips fall in the tail, not at the median) and the bulk
rates per CPU second (on this shared 2-core machine a bulk block's wall-clock rate swings by tens of
percent with other jobs' load; its CPU rate is what the rig's process spends, the loopback board
included); the other figures are printed beside them. Goal: on vs off within +5%.

"Capture off costs nothing": off runs the very transfer code none runs (the identity check fails the
benchmark otherwise), plus a few microseconds per block (`capturing(target, None)`, `mark`). So off
vs none is an A/A comparison: its spread is the run's resolution, printed for every figure, and it
is judged only as a guard against a gross regression (within the same +5%); at load average ~9 it
came out anywhere between -3% and +4% with identical transfer code. Two boards cannot stand for
"none" and "off": two loopback boards in one process differ by about 2% in round trip with no
capture code at all (measured).

A transfer only logs its raw fields; the capture encodes them when it is closed after each "on"
block (as `rig latency`/`rig throughput --capture` encode at each step's end). That deferred work is
counted in the "on" block's figures: its wall-clock and CPU time are added to the block's (bulk rates
and CPU time per round trip include it); the round trip's p50 cannot include it, since no round trip
waits for it. Its CPU time per transfer is printed too.
RIG_BENCH_CAPTURE_INJECT_US adds a busy wait to every recorded transfer (a deliberate slowdown the
benchmark must report as a missed goal).
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rig.client.board import Board
from rig.links.recording_backend import RecordingBackend
from rig.measure import throughput as tp
from rig.measure.latency import LatencySettings, UsbMidiLink, run_latency
from rig.measure.model import Run, ThroughputResult
from rig.targets.loopback import LoopbackTarget
from rig.targets.registry import TargetSpec
from rig.targets.usb_capture import capturing, mark

ROUNDS = 72
"""Counted rounds (each one block per condition); a multiple of 6 so every order runs as often. 72,
not 36: at load 17-20 (the shared 2-core machine) 36 rounds gave bulk IN's cost a 99% interval
8-10 points wide, wider than the effect it judges."""
RTT_SAMPLES = 200
RTT_WARMUP = 10
FRAMES = 400
FRAME_BYTES = 1000
RESAMPLES = 4000
GOAL = 1.05
"""Capture on vs off: at most +5% (and off vs none, the A/A guard, too)."""
CONDITIONS = ("none", "off", "on")
COMPARISONS = (("on vs off", "off", "on"), ("off vs none", "none", "off"))
"""(label, base condition, condition judged against GOAL by the median of its per-round cost ratios)."""
INJECT_ENV = "RIG_BENCH_CAPTURE_INJECT_US"

@dataclass(frozen=True)
class Cost:
    """What one block spent: wall-clock and CPU seconds (and for the round trip its p50, in us)."""

    wall_s: float
    cpu_s: float
    p50_us: float = 0.0

    def plus(self, wall_s: float, cpu_s: float) -> Cost:
        """This cost with more spent (the capture's deferred encoding)."""
        return Cost(self.wall_s + wall_s, self.cpu_s + cpu_s, self.p50_us)


Measure = Callable[[Board], Cost]
"""One block on a board: what it spent."""


@dataclass(frozen=True)
class Figure:
    """One figure a block yields: its name, unit, and whether higher is better (a rate)."""

    name: str
    unit: str
    higher_is_better: bool
    judged: bool
    """False: printed for information only."""


def _round_trip(board: Board) -> Cost:
    """The block's round trips: p50 by the wall clock, and the CPU time they took."""
    run = Run(kind="latency", path="midi-usb", target="loopback", target_kind="loopback", real_timing=False)
    cpu = time.process_time()
    wall = time.perf_counter()
    run_latency(UsbMidiLink(board), LatencySettings(count=RTT_SAMPLES, warmup=RTT_WARMUP), run)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    if run.error is not None:
        raise RuntimeError(run.error)
    return Cost(wall, cpu, statistics.median(run.rtt_values_us()))


def _round_trip_figures(cost: Cost) -> list[float]:
    """p50 (us, wall clock) and CPU time per round trip (us, the deferred encoding included)."""
    return [cost.p50_us, cost.cpu_s / (RTT_SAMPLES + RTT_WARMUP) * 1e6]


def _bulk(direction: Callable[[Board, int, int], ThroughputResult]) -> Measure:
    def block(board: Board) -> Cost:
        """The block's transfer time by its rate (wall clock) and the CPU time it took."""
        cpu = time.process_time()
        rate = direction(board, FRAME_BYTES, FRAMES).rate_per_s
        return Cost(FRAME_BYTES * FRAMES / rate, time.process_time() - cpu)
    return block


def _bulk_figures(cost: Cost) -> list[float]:
    """Rate by the wall clock (kB/s) and per CPU second (kB/cpu-s), the deferred encoding included."""
    kbytes = FRAME_BYTES * FRAMES / 1000
    return [kbytes / cost.wall_s, kbytes / cost.cpu_s]


BULK_FIGURES = (Figure("rate, wall clock", "kB/s", True, judged=False),
                Figure("rate per CPU second", "kB/cpu-s", True, judged=True))
WORKLOADS: list[tuple[str, Measure, Callable[[Cost], list[float]], tuple[Figure, Figure]]] = [
    ("MIDI round trip (raw USB-MIDI, 1 in flight)", _round_trip, _round_trip_figures,
     (Figure("p50, wall clock", "us", False, judged=True),
      Figure("CPU time per round trip", "us", False, judged=False))),
    (f"bulk OUT, {FRAME_BYTES} B frames", _bulk(tp.bulk_out), _bulk_figures, BULK_FIGURES),
    (f"bulk IN, {FRAME_BYTES} B frames", _bulk(tp.bulk_in), _bulk_figures, BULK_FIGURES),
]


def _orders() -> Iterator[tuple[str, ...]]:
    """Condition orders for successive rounds: the six permutations, over and over."""
    return itertools.cycle(itertools.permutations(CONDITIONS))


def _inject(board: Board, microseconds: float) -> None:
    """Make every recorded bulk transfer of `board` busy-wait `microseconds` longer (the proof that
    the benchmark sees a slowdown of the recorded path)."""
    proxy = board.device._ctx.backend
    assert isinstance(proxy, RecordingBackend)
    wait_ns = int(microseconds * 1000)

    def slowed(transfer: Callable[..., int]) -> Callable[..., int]:
        def call(*args: object) -> int:
            end = time.perf_counter_ns() + wait_ns
            while time.perf_counter_ns() < end:
                pass
            return transfer(*args)
        return call

    proxy.bulk_write, proxy.bulk_read = slowed(proxy.bulk_write), slowed(proxy.bulk_read)


class Rig:
    """The loopback board and the blocks run on it under each condition."""

    def __init__(self, target: LoopbackTarget, workdir: Path) -> None:
        self.target = target
        self.board = Board(target.usb_device())
        self.own_backend = self.board.device._ctx.backend
        self.workdir = workdir
        self.encode_s = 0.0
        self.encoded_transfers = 0
        self.inject_us = float(os.environ.get(INJECT_ENV, "0") or 0)

    def block(self, condition: str, measure: Measure) -> Cost:
        """One block of `measure` under `condition`; for "on", the encoding of what it recorded (when
        the capture is closed) is added to its wall-clock and CPU time."""
        if condition == "none":
            return measure(self.board)
        path = self.workdir / "on.pcapng" if condition == "on" else None
        with capturing(self.target, path) as capture:
            mark(self.target, "bench block")
            backend = self.board.device._ctx.backend
            if capture is None:
                if backend is not self.own_backend:
                    raise RuntimeError(f"capture off left {backend!r} on the transfer path")
                return measure(self.board)
            if not isinstance(backend, RecordingBackend):
                raise RuntimeError(f"capture on, yet the transfers go to {backend!r}")
            if self.inject_us:
                _inject(self.board, self.inject_us)
            cost = measure(self.board)
            cpu, wall = time.process_time(), time.perf_counter()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        self.encode_s += cpu
        self.encoded_transfers += capture.events // 2
        (self.workdir / "on.pcapng").unlink()
        return cost.plus(wall, cpu)


def _interval(ratios: list[float], level: float) -> tuple[float, float]:
    """Bootstrap interval (`level`, e.g. 0.99) of the median of per-round ratios (rounds resampled)."""
    rng = random.Random(1)
    medians = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(RESAMPLES))
    tail = (1 - level) / 2
    return medians[int(tail * RESAMPLES)], medians[int((1 - tail) * RESAMPLES) - 1]


def _cost(figure: Figure, base: list[float], other: list[float]) -> list[float]:
    """Per-round cost ratios of `other` against `base` (> 1: `other` is worse)."""
    return [b / o if figure.higher_is_better else o / b for b, o in zip(base, other, strict=True)]


def _report(figure: Figure, got: dict[str, list[float]]) -> bool:
    """Print one figure per condition and the two costs; True when both are within their goals or the
    figure is information only."""
    medians = {cond: statistics.median(values) for cond, values in got.items()}
    print(f"    {figure.name:<24} " + "  ".join(f"{cond} {medians[cond]:10,.1f}" for cond in CONDITIONS)
          + f" {figure.unit}")
    ok = True
    for label, base, other in COMPARISONS:
        ratios = _cost(figure, got[base], got[other])
        cost = statistics.median(ratios)
        q1, _, q3 = statistics.quantiles(ratios, n=4)
        low, high = _interval(ratios, 0.99)
        if figure.judged:
            ok &= cost <= GOAL
            verdict = "ok" if cost <= GOAL else f"OVER the {_pct(GOAL)} goal"
        else:
            verdict = "(information)"
        print(f"      {label:<12} cost {_pct(cost)}  (rounds' IQR {_pct(q1)}..{_pct(q3)}, "
              f"99% interval of the median {_pct(low)}..{_pct(high)})  {verdict}")
    return ok


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f}%"


def run(rounds: int = ROUNDS) -> bool:
    """Every workload in rounds of the three conditions; prints the figures and costs; True when every
    goal is met."""
    target = LoopbackTarget(TargetSpec("loopback"), jack="never")
    ok = True
    print(f"  load average {_load()} at the start; {rounds} rounds + 1 warm-up")
    with target, tempfile.TemporaryDirectory(prefix="rig-bench-capture-") as tmp:
        rig = Rig(target, Path(tmp))
        if rig.inject_us:
            print(f"  {INJECT_ENV}={rig.inject_us}: every recorded bulk transfer busy-waits that long")
        for name, measure, figures_of, figures in WORKLOADS:
            blocks: dict[str, list[list[float]]] = {cond: [] for cond in CONDITIONS}
            for number, order in zip(range(rounds + 1), _orders(), strict=False):
                for cond in order:
                    got = figures_of(rig.block(cond, measure))
                    if number:
                        blocks[cond].append(got)
            print(f"  {name}")
            for index, figure in enumerate(figures):
                ok &= _report(figure, {cond: [b[index] for b in got] for cond, got in blocks.items()})
        rig.board.close()
        per_transfer = rig.encode_s / max(1, rig.encoded_transfers) * 1e6
        print(f"  deferred encoding (at close, after each 'on' block; included in its figures): "
              f"{per_transfer:.1f} us CPU per transfer ({rig.encoded_transfers:,} transfers)")
    print(f"  load average {_load()} at the end")
    return ok


def _load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def main() -> bool:
    """The benchmark with its default rounds (bench/__main__.py's entry point)."""
    return run()


if __name__ == "__main__":
    import sys

    raise SystemExit(0 if run(int(sys.argv[1]) if len(sys.argv) > 1 else ROUNDS) else 1)
