"""`rig run`: the main job. Conformance suite on the default target (an attached board, else the
loopback), then a latency report on the same target, all in one report directory (JUnit XML,
report.md, latency/), and a summary on the console.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rig.cli._out import STATUS_STYLE, stdout
from rig.cli._suite import plugin_args, suite_args, suite_dir, valid_spec
from rig.errors import RigError
from rig.pytest_plugin.run_report import JUNIT_FILE, REPORT_FILE, RunRecord, default_report_dir

CAPTURES_DIR = "captures"
"""Subdirectory of the report directory holding failing tests' USB captures."""


class RunFailed(RigError, RuntimeError):
    """pytest could not run the suite at all (usage error, nothing collected, internal error)."""


class ProgressPlugin:
    """A pytest plugin object that drives a rich progress bar: one step per test."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task = progress.add_task("collecting", total=None)
        self.failed = 0

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.progress.update(self.task, total=len(session.items), description="testing")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed += 1

    def pytest_runtest_logstart(self, nodeid: str, location: Any) -> None:
        self.progress.update(self.task, description=nodeid.rsplit("::", 1)[-1][:50])

    def pytest_runtest_logfinish(self, nodeid: str, location: Any) -> None:
        self.progress.advance(self.task)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the subcommand."""
    p = sub.add_parser("run", help="the main job: conformance suite + report directory",
                       description="Run the conformance suite on the target (default: the attached board, "
                                   "else the loopback) and write JUnit XML and report.md into a report "
                                   "directory. Exit 1 when anything failed.")
    p.add_argument("--rig", metavar="SPEC", default=None, help="target (default: board if attached, else "
                                                                "loopback)")
    p.add_argument("--report-dir", metavar="DIR", type=Path, default=None,
                   help="where to write the report (default: reports/<UTC timestamp>/)")
    p.add_argument("--rig-strict", action="store_true", help="capability skips the target should not have "
                                                             "fail (as in CI)")
    p.add_argument("--no-latency", action="store_true", help="skip the latency report after the suite")
    p.add_argument("--latency-count", metavar="N", type=int, default=300,
                   help="latency samples per path (default 300)")
    p.add_argument("--capture", metavar="FILE", type=Path, default=None,
                   help="record all USB traffic into FILE (pcapng for Wireshark; the latency part into "
                        "FILE-latency.pcapng); failing tests' own captures are always kept in the report "
                        "directory's captures/ and linked from report.md")
    p.add_argument("--suite", metavar="DIR", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def pytest_args(spec: str, report_dir: Path, suite: str | None, strict: bool,
                capture: Path | None = None) -> list[str]:
    """The pytest command line of the main job (pytest's own terminal output is replaced by ours);
    failing tests' USB captures go to report_dir/captures/."""
    argv = [*suite_args(suite), *plugin_args(), "-p", "no:terminal", "-p", "no:cacheprovider",
            "-o", "addopts=", "--import-mode=importlib", "--strict-markers",
            "--rig", spec, "--rig-report", str(report_dir), "--junitxml", str(report_dir / JUNIT_FILE),
            "--rig-capture", str(report_dir / CAPTURES_DIR)]
    if capture is not None:
        argv += ["--rig-capture-file", str(capture)]
    return argv + (["--rig-strict"] if strict else [])


def latency_capture(capture: Path | None) -> Path | None:
    """Where `rig run --capture FILE` records the latency part: FILE-latency.pcapng beside FILE."""
    if capture is None:
        return None
    return capture.with_name(f"{capture.stem}-latency{capture.suffix or '.pcapng'}")


def _summary(record: RunRecord, report_dir: Path) -> None:
    out = stdout()
    for spec, facts in record.targets.items():
        details = ", ".join(f"{k} {v}" for k, v in facts.items() if k != "target")
        out.print(f"target [bold]{spec}[/]" + (f": {details}" if details else ""))
    table = Table(show_header=True, header_style="bold")
    table.add_column("result")
    table.add_column("tests", justify="right")
    for outcome, count in sorted(record.totals().items()):
        table.add_row(Text(outcome.upper(), style=STATUS_STYLE.get(outcome.upper(), "")), str(count))
    out.print(table)
    for outcomes, style in (({"failed", "error"}, "bold red"), ({"skipped"}, "yellow")):
        groups: dict[tuple[str, str], list[str]] = {}
        for test in record.tests:
            if test.outcome in outcomes:
                groups.setdefault((test.outcome, test.message), []).append(test.nodeid)
        for (outcome, message), nodeids in groups.items():
            line = Text()
            line.append(outcome.upper(), style=style)
            if len(nodeids) > 2:  # one cause (a target that did not open, a missing feature) shown once
                line.append(f" {len(nodeids)} tests ({nodeids[0]}, ...): {message}")
            else:
                line.append(f" {' and '.join(nodeids)}: {message}")
            out.print(line)
    verdict = Text("PASSED", style="bold green") if record.ok else Text("FAILED", style="bold red")
    skipped = record.totals().get("skipped", 0)
    if skipped:
        verdict.append(f" ({skipped} skipped)", style="yellow")
    paths = f"  report: {report_dir / REPORT_FILE}  junit: {report_dir / JUNIT_FILE}"
    out.print(Text.assemble(verdict, paths))


def run(args: argparse.Namespace) -> int:
    """Run the suite with a progress bar, then print the summary; 0 only when nothing failed."""
    from rig.pytest_plugin.options import default_spec

    spec = valid_spec(args.rig) if args.rig else default_spec()
    report_dir = args.report_dir or default_report_dir()
    argv = pytest_args(spec, report_dir, args.suite, args.rig_strict, args.capture)
    out = stdout()
    out.print(f"rig run: conformance suite on [bold]{spec}[/], report in {report_dir}")
    with Progress(TextColumn("{task.description:<50}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=out, transient=True) as progress:
        code = int(pytest.main(argv, plugins=[ProgressPlugin(progress)]))
    if code in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RunFailed(f"pytest could not run the suite (exit code {code}: {pytest.ExitCode(code).name})")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise RunFailed(f"no tests collected from {suite_dir(args.suite)}")
    record = RunRecord.load(report_dir)
    _summary(record, report_dir)
    latency_ok = args.no_latency or _latency(spec, report_dir, args.latency_count,
                                             latency_capture(args.capture))
    return 0 if code == 0 and record.ok and latency_ok else 1


def _latency(spec: str, report_dir: Path, count: int, capture: Path | None = None) -> bool:
    """Latency on every path the target has, into report_dir/latency/, linked from report.md;
    False when a run stopped on a device fault or failed its functional check."""
    from rig.measure.runner import latency_report_for

    out = stdout()
    files = latency_report_for(spec, report_dir / "latency", count=count, console=out, capture=capture)
    lines = ["", "## Latency", ""]
    lines += [f"- [{f.report.stem}](latency/{f.report.name}) (samples: [JSON](latency/{f.json.name}), "
              f"[CSV](latency/{f.csv.name}))" for f in files]
    with (report_dir / REPORT_FILE).open("a", encoding="utf-8") as report_md:
        report_md.write("\n".join(lines) + "\n")
    out.print("  latency: " + ", ".join(str(f.report) for f in files))
    return all(f.ok for f in files)
