"""`rig history`: list stored runs (measurements, and test sessions per target), or gate one run (or
test session) against a baseline."""

from __future__ import annotations

import argparse

from rich.table import Table

from rig.measure.history import SUITE, History, RunNotFound, Thresholds, compare
from rig.measure.runner import MeasureError, wide_console
from rig.measure.suite_gate import compare_suites


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("history", help="list stored measurement runs, or gate one against a baseline")
    p.add_argument("--history", metavar="PATH", default=None,
                   help="SQLite history file (default: $RIG_HISTORY or ~/.local/share/rig/history.sqlite)")
    p.add_argument("--limit", type=int, default=20, help="the newest N runs")
    p.add_argument("--target", default=None, help="only runs of this target")
    p.add_argument("--kind", choices=("latency", "throughput", SUITE), default=None,
                   help="only runs of this kind")
    p.add_argument("--compare", nargs=2, type=int, metavar=("RUN", "BASELINE"), default=None,
                   help="apply the regression gate to RUN against BASELINE; exit 1 on FAIL (test sessions "
                        "stored by pytest --rig-history: any run of each session, compared per target)")
    p.add_argument("--thresholds", metavar="LIST", default="",
                   help="with --compare: e.g. p50_ratio=1.1,max_lost=0 ('off' disables; empty: the defaults)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """List runs, or gate one against a baseline (exit 1 on FAIL)."""
    console = wide_console()
    with History(args.history) as history:
        if args.compare:
            run_id, base_id = args.compare
            try:
                if history.row(run_id).kind == SUITE:  # test outcomes: every target of both sessions
                    gate = compare_suites(history.session_runs(run_id), history.session_runs(base_id))
                    for line in gate.lines():
                        console.print(line, markup=False)
                    return 0 if gate.passed else 1
                thresholds = Thresholds.parse(args.thresholds)
                verdict = compare(history.row(run_id), history.row(base_id), thresholds)
            except RunNotFound as exc:
                raise MeasureError(str(exc)) from None
            for check in verdict.checks:
                console.print(check.line())
            for note in verdict.notes:
                console.print(f"note: {note}")
            console.print(f"gate: {'PASS' if verdict.passed else 'FAIL'}")
            return 0 if verdict.passed else 1
        rows = history.runs(limit=args.limit, target=args.target, kind=args.kind)
        table = Table(title=f"measurement runs in {history.path}")
        for col in ("id", "started (UTC)", "kind", "path", "target", "taken", "real", "fw"):
            table.add_column(col, no_wrap=True)
        table.add_column("figures", overflow="fold", min_width=30)
        for r in rows:
            table.add_row(str(r.run_id), r.started_at[:16].replace("T", " "), r.kind, r.path, r.target,
                          r.origin or "here", "yes" if r.real_timing else "no", r.firmware or "-",
                          r.headline() + (" (INCOMPLETE: error)" if r.summary.get("error")
                                          else " (interrupted)" if r.interrupted else ""))
        console.print(table)
        if not rows:
            console.print("no runs stored yet: `rig latency` or `rig throughput` stores one")
    return 0
