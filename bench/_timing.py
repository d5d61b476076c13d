"""Timing and workload helpers every bench module shares: the best of interleaved runs (so a burst of
load from elsewhere hits every runner alike) and a deterministic mix of channel messages."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping


def interleaved_best(runs: Mapping[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Seconds of the fastest of `repeats` runs of each runner, the runners interleaved in each round."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def best_of(run: Callable[[], object], repeats: int) -> float:
    """Seconds of the fastest of `repeats` runs of one runner (the least disturbed by the machine)."""
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
