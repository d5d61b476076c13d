"""One verdict per run, computed once from every step (a suite, each latency path, each throughput
direction, a regression gate): what the console prints last, what every report says at the top, and
the exit status. Lost messages fail on every target unless a loss tolerance allows them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rig.measure.model import Run

PASS = "PASS"
FAIL = "FAIL"
INCOMPLETE = "INCOMPLETE"
"""A step stopped early on an error: what it did not measure cannot pass."""
INTERRUPTED = "INTERRUPTED"
"""Ctrl-C: the samples so far are kept and reported, but the run did not finish."""

_RANK = {PASS: 0, INTERRUPTED: 1, FAIL: 2, INCOMPLETE: 3}
EXIT_STATUS = {PASS: 0, INTERRUPTED: 130, FAIL: 1, INCOMPLETE: 1}


@dataclass(frozen=True)
class Verdict:
    """PASS, FAIL, INCOMPLETE or INTERRUPTED, with the reasons (empty for PASS)."""

    status: str
    reasons: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True only for PASS."""
        return self.status == PASS

    @property
    def exit_status(self) -> int:
        """0 for PASS, 130 for INTERRUPTED, 1 otherwise."""
        return EXIT_STATUS[self.status]

    def line(self) -> str:
        """`PASS`, or `FAIL: reason; reason`."""
        return self.status + (": " + "; ".join(self.reasons) if self.reasons else "")

    def with_reasons(self, failures: Iterable[str]) -> Verdict:
        """This verdict with more failure reasons (a PASS becomes a FAIL)."""
        extra = tuple(failures)
        if not extra:
            return self
        status = self.status if _RANK[self.status] >= _RANK[FAIL] else FAIL
        return Verdict(status, self.reasons + extra)


def run_failures(run: Run, loss_tolerance: int = 0, summary: dict[str, Any] | None = None) -> list[str]:
    """What went wrong in a latency or throughput run, whatever the target: messages lost beyond the
    tolerance, duplicated, out of order or unexpected (`summary`: run.summary(), when known)."""
    failures: list[str] = []
    if run.kind == "latency":
        summary = run.summary() if summary is None else summary
        seq = summary["sequence"]
        if seq["lost"] > loss_tolerance:
            failures.append(f"lost {seq['lost']} of {seq['sent']}" + _tolerance(loss_tolerance))
        for key in ("out_of_order", "duplicates"):
            if seq.get(key):
                failures.append(f"{key.replace('_', ' ')} {seq[key]}")
        if summary["unexpected"]:
            failures.append(f"unexpected {summary['unexpected']}")
    for t in run.throughput:
        if t.lost > loss_tolerance:
            failures.append(f"{t.direction}: lost {t.lost}" + _tolerance(loss_tolerance))
    return failures


def _tolerance(loss_tolerance: int) -> str:
    return f" (tolerance {loss_tolerance})" if loss_tolerance else ""


def of_run(run: Run, loss_tolerance: int = 0, summary: dict[str, Any] | None = None) -> Verdict:
    """The verdict of one run: INCOMPLETE when an error stopped it, INTERRUPTED on Ctrl-C, FAIL when
    anything was lost (beyond the tolerance) or garbled, else PASS."""
    failures = run_failures(run, loss_tolerance, summary)
    if run.error is not None:
        return Verdict(INCOMPLETE, (f"stopped early: {run.error}", *failures))
    if run.interrupted:
        return Verdict(INTERRUPTED, ("interrupted before every sample was taken", *failures))
    return Verdict(FAIL, tuple(failures)) if failures else Verdict(PASS)


def combine(steps: Sequence[tuple[str, Verdict]]) -> Verdict:
    """The verdict of several steps: the worst status, with each failing step's reasons named."""
    if not steps:
        return Verdict(INCOMPLETE, ("nothing ran",))
    status = max((v.status for _, v in steps), key=_RANK.__getitem__)
    reasons = tuple(f"{name}: {v.line()}" for name, v in steps if not v.passed)
    return Verdict(status, reasons)
