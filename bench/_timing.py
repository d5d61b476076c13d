"""Timing and workload helpers every bench module shares: the best of interleaved runs (so a burst of
load from elsewhere hits every runner alike) and a deterministic mix of channel messages.

Runs are timed in this process's CPU time (time.process_time), not wall time: the host-side code they
time is single-threaded and does no I/O, so its CPU time is its cost, while on this shared 2-core
machine (load 6-11 while other jobs run) a wall-clock run mostly measures how often the scheduler
took the core away. Both sides of every ratio are timed the same way."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping


def time_once(run: Callable[[], object]) -> float:
    """CPU seconds this process spends in one call of `run`."""
    start = time.process_time()
    run()
    return time.process_time() - start


def interleaved_best(runs: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """CPU seconds of the fastest of `repeats` runs of each runner, the runners interleaved in each round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], time_once(run))
    return best


def best_of(run: Callable[[], object], repeats: int) -> float:
    """CPU seconds of the fastest of `repeats` runs of one runner (the least disturbed by the machine)."""
    return interleaved_best({"run": run}, repeats)["run"]


def channel_messages(count: int, seed: int) -> list[bytes]:
    """A deterministic mix of 3-byte and 2-byte channel messages, mostly notes, as a sequence renders."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        status = rng.choice((0x90, 0x80, 0x90, 0x80, 0xB0, 0xE0, 0xC0)) | rng.randrange(16)
        if 0xC0 <= status < 0xE0:
            out.append(bytes((status, rng.randrange(128))))
        else:
            out.append(bytes((status, rng.randrange(128), rng.randrange(128))))
    return out
