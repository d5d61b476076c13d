"""One sequence on two boards at once: both start from the prologue, every op's answer and every
counter after it are compared; the first difference is a `Divergence`."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import usb.core

from tests.differential.ops import Op
from tests.differential.runs import Outcome, execute, normalise, prologue, stats


@dataclass(frozen=True)
class Divergence:
    """Where two boards first answered differently: op `index` (its answer, or the counters after it)."""

    index: int
    op: Op
    what: str
    """"answer", or the name of the first counter that differs ("stats" when GET_STATS itself did)."""
    left: Any
    right: Any

    def describe(self, names: tuple[str, str]) -> str:
        """One paragraph a person reads."""
        return (f"op {self.index}: {self.op.as_python()}\n  {self.what}: {names[0]} {self.left!r}\n"
                f"  {' ' * len(self.what)}  {names[1]} {self.right!r}")


def _stats_difference(left: dict[str, int] | Outcome,
                      right: dict[str, int] | Outcome) -> tuple[str, Any, Any] | None:
    if not isinstance(left, dict) or not isinstance(right, dict):
        return None if left == right else ("stats", left, right)
    for name in left:
        if left[name] != right[name]:
            return (name, left[name], right[name])
    return None


def first_divergence(devices: tuple[usb.core.Device, usb.core.Device],
                     ops: Sequence[Op]) -> Divergence | None:
    """Run the prologue then `ops` on both devices in lock step; the first difference, or None. Each
    step runs on the two devices at once (one thread each; they share nothing): the prologue's
    drains and many ops end by waiting out a read timeout, and the waits overlap."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="differential") as pool:
        def on_both(step: Callable[[usb.core.Device], Any]) -> list[Any]:
            return list(pool.map(step, devices))

        on_both(prologue)
        for index, op in enumerate(ops):
            answers = [normalise(op, answer) for answer in on_both(functools.partial(execute, op=op))]
            if answers[0] != answers[1]:
                return Divergence(index, op, "answer", answers[0], answers[1])
            left, right = on_both(stats)
            counters = _stats_difference(left, right)
            if counters is not None:
                return Divergence(index, op, *counters)
    return None
