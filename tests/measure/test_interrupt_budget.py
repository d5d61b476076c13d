"""What makes a Ctrl-C cheap at any sample count: the figures come from columns kept as the run goes
(the same figures as from the samples), sequence accounting is vectorised (the same counts as the
obvious loop), and after a Ctrl-C the per-sample files stop at the budget and say so."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rig.measure import budget, report
from rig.measure.budget import Budget
from rig.measure.columns import SampleColumns
from rig.measure.latency import LatencySettings, run_latency
from rig.measure.model import Run, Sample
from rig.measure.stats import SequenceAccount, account
from rig.measure.verdict import of_run

from .fakes import EchoLink, FakeClock
from .synthetic import latency_run


def reference_account(sent: list[int], arrivals: list[int]) -> SequenceAccount:
    """The definition, one arrival at a time."""
    sent_set = set(sent)
    seen: set[int] = set()
    highest: int | None = None
    out_of_order = duplicates = unexpected = 0
    for seq in arrivals:
        if seq not in sent_set:
            unexpected += 1
        elif seq in seen:
            duplicates += 1
        else:
            if highest is not None and seq < highest:
                out_of_order += 1
            highest = seq if highest is None else max(highest, seq)
            seen.add(seq)
    return SequenceAccount(len(sent), len(seen), len(sent) - len(seen), out_of_order, duplicates, unexpected)


@given(st.lists(st.integers(-5, 40), unique=True, max_size=30), st.lists(st.integers(-8, 45), max_size=60))
def test_vectorised_accounting_counts_as_the_definition(sent: list[int], arrivals: list[int]) -> None:
    assert account(sent, arrivals) == reference_account(sent, arrivals)


@given(st.integers(1, 40), st.integers(0, 5), st.integers(1, 4), st.sets(st.integers(0, 60)),
       st.integers(0, 60))
def test_columns_kept_by_the_runner_give_the_figures_of_the_samples(
        count: int, warmup: int, in_flight: int, dropped: set[int], interrupt_at: int) -> None:
    clock = FakeClock()
    link = EchoLink(clock, delay_ns=lambda n: 100_000 + (n * 7919) % 50_000, drop=lambda n: n in dropped,
                    interrupt_after=interrupt_at if interrupt_at < count + warmup else None)
    run = Run(kind="latency", path="fake", target="fake", target_kind="fake", real_timing=False)
    run_latency(link, LatencySettings(count=count, warmup=warmup, in_flight=in_flight, timeout_s=0.01),
                run, clock=clock, sleep=clock.sleep)
    assert run.columns is not None and run.columns.count == len(run.samples)
    kept = run.summary()
    run.columns = None  # the figures from the samples themselves
    assert kept == run.summary()


def test_a_spent_budget_cuts_the_sample_files_and_the_page_says_so(tmp_path: Path) -> None:
    run = latency_run(20_000, stamps=False)
    run.interrupted = True
    now = [0.0]
    budget = Budget.for_run(run, seconds=1.0, clock=lambda: now[0])
    now[0] = 2.0  # already spent: nothing per-sample is written
    files = report.write_all(run, tmp_path, fmt="md", stem="cut", verdict=of_run(run), budget=budget)
    text = files.report.read_text()
    assert "Verdict: INTERRUPTED" in text and "yes (Ctrl-C or SIGTERM)" in text
    assert "n=20000" in text  # the figures are whole
    assert "cut.csv holds the first 0 of 20005 samples" in text and "plots not drawn" in text
    assert files.csv.read_text().splitlines() == [",".join(report.CSV_COLUMNS)]
    doc = json.loads(files.json.read_text())
    assert doc["samples"] == [] and doc["samples_cut"] == "20005 of 20005 samples left out after a Ctrl-C"
    assert files.pngs == {}


def test_without_a_ctrl_c_nothing_is_cut(tmp_path: Path) -> None:
    run = latency_run(50)
    budget = Budget.for_run(run)  # not interrupted: unbounded
    assert not budget.bounded
    files = report.write_all(run, tmp_path, fmt="md", stem="whole", budget=budget)
    assert len(json.loads(files.json.read_text())["samples"]) == 55 and files.pngs
    assert budget.cuts == [] and "Ctrl-C" not in files.report.read_text()


def test_columns_of_samples_skip_abandoned_and_warm_up() -> None:
    run = latency_run(10)
    columns = SampleColumns.of(run.samples)
    assert columns.count == 15 and len(columns.measured_seqs()) == 10
    columns.abandon(run.samples[-2:])
    assert columns.count == 13 and list(columns.measured_seqs()) == list(range(5, 13))


def _interrupted_at(opcode: int, call: Callable[[], None]) -> bool:
    """Run `call` with a KeyboardInterrupt raised before its `opcode`-th bytecode (as Python delivers a
    Ctrl-C: between bytecodes); True when it was raised, False when `call` finished first."""
    executed = 0

    def trace(frame: FrameType, event: str, arg: object) -> Any:
        nonlocal executed
        frame.f_trace_opcodes = True
        if event == "opcode":
            executed += 1
            if executed == opcode:
                raise KeyboardInterrupt
        return trace

    sys.settrace(trace)
    try:
        call()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def test_a_ctrl_c_at_any_bytecode_of_a_row_leaves_the_columns_in_step() -> None:
    """A Ctrl-C inside `answered` once left one column a row longer than the others: the interrupted
    run's summary then failed ("operands could not be broadcast together with shapes (200065,)
    (200066,)") and no report was written (a CI failure: no FINISHING)."""
    sample = Sample(seq=7, sent_ns=1_000, received_ns=301_000, device_rx_us=40, device_tx_us=90)
    for write in ("sent", "answered"):
        opcode = 1
        while True:
            columns = SampleColumns()
            columns.sent(Sample(seq=6, sent_ns=0))
            columns.answered(Sample(seq=6, sent_ns=0, received_ns=250_000))
            interrupted = _interrupted_at(opcode, functools.partial(getattr(columns, write), sample))
            answers = columns.answers()
            assert len({a.size for a in answers}) == 1, \
                f"{write} interrupted at bytecode {opcode}: columns of {[a.size for a in answers]} rows"
            assert columns.measured_seqs().size in (1, 2) and columns.count in (1, 2)
            if not interrupted:
                break
            opcode += 1
        assert opcode > 3, f"{write}: the interrupt was never tried inside it"


def test_the_budget_leaves_out_the_time_other_jobs_held_the_cpu() -> None:
    """A busy process beside this one on one CPU: the main thread waits for it about half the time,
    and the budget's clock (own_time) advances less than time.monotonic by that wait, so a loaded
    machine does not eat the finishing work's 0.5 s (a Ctrl-C test once found the run not stored)."""
    if budget.waited_for_cpu_s() == 0.0 and not budget._SCHEDSTAT.exists():
        pytest.skip("no /proc/self/schedstat: the budget's clock is time.monotonic here")
    cpu = min(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"],
                           preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    try:
        os.sched_setaffinity(0, {cpu})
        started = time.monotonic()
        while Path(f"/proc/{hog.pid}/stat").read_text().split(") ", 1)[1].split()[11] == "0":
            assert time.monotonic() - started < 30, "the busy process never ran"
        wall0, own0 = time.monotonic(), budget.own_time()
        while time.monotonic() - wall0 < 0.6:
            pass
        wall, own = time.monotonic() - wall0, budget.own_time() - own0
    finally:
        os.sched_setaffinity(0, before)
        hog.kill()
        hog.wait()
    assert own < 0.8 * wall, f"own time {own:.3f} s of {wall:.3f} s wall beside a busy process"


def test_without_schedstat_the_budget_clock_is_monotonic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "_SCHEDSTAT", Path("/nonexistent/schedstat"))
    assert budget.waited_for_cpu_s() == 0.0
    assert abs(budget.own_time() - time.monotonic()) < 0.05
