"""How long the work after a Ctrl-C may take. A user who stops a run wants the prompt back at once and
the report kept (issue #9: Ctrl-C must end within 2 s at any sample count), so after a Ctrl-C the
per-sample outputs (JSON samples, CSV rows, history rows) are written in chunks only until the budget
is spent, plots are not drawn, and every output says what was left out. The summary and the report
page are always written: they cost no pass over the samples (rig.measure.columns)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rig.measure.model import Run

INTERRUPT_BUDGET_S = 0.5
"""Seconds the per-sample outputs may take after a Ctrl-C (the rest of the 2 s: summary, report page,
closing the target and leaving the process, on a loaded 2-core machine), on `own_time`'s clock."""
CHUNK = 5_000
"""Samples written between two looks at the clock."""
_SCHEDSTAT = Path("/proc/self/schedstat")


def waited_for_cpu_s() -> float:
    """Seconds the process's main thread (where the finishing work runs) has waited, runnable, for a
    CPU other jobs held (Linux schedstat's second field); 0.0 where the kernel does not say."""
    try:
        return int(_SCHEDSTAT.read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def own_time() -> float:
    """time.monotonic less the time the main thread waited for a CPU: the clock of the finishing work.
    On a loaded machine the time other jobs take is not the rig's work, and the 2 s a Ctrl-C may
    take are judged the same way (tests/cli/test_latency_interrupt.py)."""
    return time.monotonic() - waited_for_cpu_s()


@dataclass
class Budget:
    """A deadline for the finishing work (None: unbounded) and the notes on what it left out."""

    deadline: float | None = None
    clock: Callable[[], float] = own_time
    cuts: list[str] = field(default_factory=list)
    """What was left out or cut short, one sentence each, for the report and the console."""

    @classmethod
    def for_run(cls, run: Run, seconds: float = INTERRUPT_BUDGET_S,
                clock: Callable[[], float] = own_time) -> Budget:
        """Bounded when the run was stopped by Ctrl-C (not by an error: then there is no hurry)."""
        if run.interrupted and run.error is None:
            return cls(clock() + seconds, clock)
        return cls(None, clock)

    @property
    def bounded(self) -> bool:
        """True after a Ctrl-C."""
        return self.deadline is not None

    def spent(self) -> bool:
        """True once the deadline has passed."""
        return self.deadline is not None and self.clock() >= self.deadline

    def share(self, fraction: float) -> Budget:
        """A budget ending after `fraction` of the time left (unbounded when this one is), noting its
        cuts here: one step may not eat the time of the steps after it."""
        if self.deadline is None:
            return self
        now = self.clock()
        return Budget(now + fraction * max(0.0, self.deadline - now), self.clock, self.cuts)

    def cut(self, what: str) -> None:
        """Note that `what` was left out or cut short because of the budget."""
        self.cuts.append(f"{what} (Ctrl-C: the finishing work is bounded to {INTERRUPT_BUDGET_S} s)")
