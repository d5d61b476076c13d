"""What `rig latency` and `rig throughput` share: their common options, the progress bar, and
`finish` (summary, report files, history and the --baseline gate) that ends every run."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rig.cli._out import stdout
from rig.cli.output_locations import writable_dir
from rig.measure import report
from rig.measure.budget import Budget
from rig.measure.history import History, HistoryError, StoreCut, Thresholds, compare, default_path
from rig.measure.model import Run
from rig.measure.verdict import Verdict, of_run


def add_common(p: argparse.ArgumentParser) -> None:
    """The options both measurement commands take."""
    p.add_argument("--rig", metavar="SPEC", default=None,
                   help="target (default: board if attached, else loopback)")
    p.add_argument("--report-dir", metavar="DIR", type=Path, default=None,
                   help="where to write JSON, CSV, PNGs and the report "
                        "(default: reports/measure-<UTC time>/)")
    p.add_argument("--format", choices=("html", "md"), default="html", help="combined report format")
    p.add_argument("--history", metavar="PATH", default=None,
                   help="SQLite history file (default: $RIG_HISTORY or ~/.local/share/rig/history.sqlite)")
    p.add_argument("--no-history", action="store_true", help="do not store this run")
    p.add_argument("--baseline", metavar="RUN", default=None,
                   help="compare against run id RUN, or 'latest' (the newest earlier run of the same "
                        "target, kind and path); exit 1 if a threshold fails")
    p.add_argument("--thresholds", metavar="LIST", default="",
                   help="e.g. p50_ratio=1.1,p99_ratio=1.25,max_lost=0,throughput_ratio=0.9 ('off' disables)")
    p.add_argument("--jack", choices=("auto", "never", "always"), default=None,
                   help="loopback only: start a private dummy JACK server for OS MIDI when there is no "
                        "MIDI system (auto), never, or always (default: $RIG_JACK, else auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--capture", metavar="FILE", default=None,
                   help="record the run's USB traffic into FILE (pcapng for Wireshark; a comment on "
                        "the first packet of each path or phase); adds a few us per transfer")
    p.add_argument("--capture-ring", metavar="MB", type=float, default=None,
                   help="with --capture: keep only the last MB megabytes (the descriptors always)")
    p.add_argument("--loss-tolerance", metavar="N", type=non_negative, default=0,
                   help="lost messages allowed per run before the verdict is FAIL (default 0)")


def non_negative(text: str) -> int:
    """An argparse type: an integer >= 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must not be negative")
    return value


@contextlib.contextmanager
def progress_bar(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stdout, yielded as the (done, total) callback the runners take; none
    when stdout is not a terminal (a transient bar leaves a blank line in piped output)."""
    console = stdout()
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def report_dir(args: argparse.Namespace) -> Path:
    """--report-dir, else reports/measure-<UTC time>/."""
    if args.report_dir is not None:
        return Path(args.report_dir)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return Path("reports") / f"measure-{stamp}"


def check_outputs(args: argparse.Namespace) -> None:
    """Before any work: the report directory (fixed now, so a default one keeps its timestamp),
    unless --no-history the history database's directory, and with --capture the capture file's
    directory must be writable."""
    args.report_dir = writable_dir(report_dir(args), "report directory")
    if not args.no_history:
        writable_dir((Path(args.history) if args.history else default_path()).parent, "history directory")
    if getattr(args, "capture", None):
        writable_dir(Path(args.capture).resolve().parent, "capture file's directory")


def finish(run: Run, args: argparse.Namespace, console: Console) -> tuple[Verdict, report.ReportFiles]:
    """Summary, history, the --baseline gate, then the files headed by the run's verdict (lost,
    garbled or unfinished runs and a failed gate all make it fail); the verdict and the files.
    After a Ctrl-C the per-sample work is bounded (rig.measure.budget) and the summary is computed
    once: the prompt comes back within 2 s whatever the sample count."""
    budget = Budget.for_run(run)
    with second_ctrl_c_waits(budget):
        summary = run.summary()
        report.print_summary(run, console, summary)
        failures = _store_and_gate(run, args, console, summary, budget)
        verdict = of_run(run, args.loss_tolerance, summary).with_reasons(failures)
        files = report.write_all(run, report_dir(args), fmt=args.format, verdict=verdict, summary=summary,
                                 budget=budget)
    for cut in budget.cuts:
        console.print(f"[bold yellow]cut short:[/] {cut}")
    console.print(f"report: {files.report}  (json {files.json.name}, csv {files.csv.name}, "
                  f"{len(files.pngs)} png)")
    return verdict, files


@contextlib.contextmanager
def second_ctrl_c_waits(budget: Budget) -> Iterator[None]:
    """While an interrupted run's bounded finish writes its report, a second Ctrl-C is ignored (it
    once lost the report, issue #9); the wait is the budget's. Main thread only (signals' rule)."""
    if not budget.bounded or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _store_and_gate(run: Run, args: argparse.Namespace, console: Console, summary: dict[str, Any],
                    budget: Budget) -> list[str]:
    """Store the run; with --baseline apply the gate. The failures (none when the gate passed)."""
    if args.no_history:
        return []
    try:
        return _store_and_compare(run, args, console, summary, budget.share(0.5))
    except StoreCut as exc:  # Ctrl-C left no time to store it: a consequence of the Ctrl-C, not a failure
        budget.cuts.append(str(exc))
        return []
    except HistoryError as exc:  # a corrupt or foreign file, a baseline that cannot be compared
        console.print(f"[bold red]history:[/] {exc}")
        return [f"history: {exc}"]


def _store_and_compare(run: Run, args: argparse.Namespace, console: Console, summary: dict[str, Any],
                       budget: Budget) -> list[str]:
    with History(args.history) as history:
        run_id = history.store(run, summary, budget)
        console.print(f"stored as run {run_id} in {history.path}")
        if args.baseline is None:
            return []
        return gate_run(history, run_id, args.baseline, args.thresholds, console)


def gate_run(history: History, run_id: int, baseline: str, thresholds: str, console: Console) -> list[str]:
    """Apply the regression gate to stored run `run_id` against `baseline` (a run id, or 'latest': the
    newest earlier run of the same target, kind and path, wherever it was taken) and print every
    check; the failures (none when the gate passed or found nothing to compare with)."""
    row = history.row(run_id)
    if baseline == "latest":
        candidates = [r for r in history.runs(target=row.target, kind=row.kind)
                      if r.run_id < run_id and r.path == row.path]
        if not candidates:
            console.print("no earlier run to compare with; gate skipped")
            return []
        base = candidates[0]
    else:
        base = history.row(int(baseline))
    gate = compare(row, base, Thresholds.parse(thresholds))
    for check in gate.checks:
        console.print(check.line())
    for note in gate.notes:
        console.print(f"note: {note}")
    console.print(f"gate: run {gate.run_id} vs baseline {gate.baseline_id}: "
                  f"{'PASS' if gate.passed else 'FAIL'}")
    return [] if gate.passed else [f"gate against baseline run {gate.baseline_id} failed"]
