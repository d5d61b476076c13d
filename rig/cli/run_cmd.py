"""`rig run`: the main job. Conformance suite on the default target (an attached board, else the
loopback), then a latency report on the same target, all in one report directory (JUnit XML,
report.md, latency/), and a summary on the console.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from rig.cli._out import STATUS_STYLE, stdout
from rig.cli._suite import add_history_options, history_args, plugin_args, suite_args, suite_dir, valid_spec
from rig.cli.measure_options import non_negative, progress_bar
from rig.cli.output_locations import writable_dir
from rig.cli.test_cmd import pick
from rig.errors import RigError
from rig.measure.history import default_path
from rig.measure.report import ReportFiles, caveat, headline, restamp
from rig.measure.verdict import FAIL, PASS, Verdict, combine
from rig.output.file_modes import FILE_MODE
from rig.output.markdown_text import escape
from rig.pytest_plugin.run_report import (
    JUNIT_FILE,
    REPORT_FILE,
    RunRecord,
    counts,
    default_report_dir,
    register_section,
    write_report,
)

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
    p.add_argument("--loss-tolerance", metavar="N", type=non_negative, default=0,
                   help="lost latency messages allowed per path before the verdict is FAIL (default 0)")
    p.add_argument("--suite", metavar="DIR", default=None, help=argparse.SUPPRESS)
    add_history_options(p)
    p.set_defaults(func=run)


def pytest_args(spec: str, report_dir: Path, suite: str | None, strict: bool,
                capture: Path | None = None, paths: Sequence[Path] = ()) -> list[str]:
    """The pytest command line of the main job (pytest's own terminal output is replaced by ours) on
    `paths` (the picked suites) unless `suite`; failing tests' USB captures go to report_dir/captures/."""
    argv = [*suite_args(suite, paths), *plugin_args(), "-p", "no:terminal", "-p", "no:cacheprovider",
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


def _summary(record: RunRecord) -> None:
    """The suite's part of the console summary: targets, outcome counts, failures and skips."""
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


def _suites_section(record: RunRecord) -> str | None:
    """report.md: which suites ran on the target and why the others did not apply."""
    lines = record.extra.get("suites")
    if not lines:
        return None
    return "## Suites\n\n" + "\n".join(f"- {escape(line)}" for line in lines)


register_section("suites", _suites_section)


CONSOLE_WORD = {PASS: "PASSED", FAIL: "FAILED"}
"""How the console's last line names a verdict (INCOMPLETE and INTERRUPTED as they are)."""


def _print_verdict(record: RunRecord, overall: Verdict, report_dir: Path) -> None:
    """The last console line: the run's one verdict and where the reports are."""
    word = CONSOLE_WORD.get(overall.status, overall.status)
    verdict = Text(word, style="bold green" if overall.passed else "bold red")
    if overall.reasons:
        verdict.append(": " + "; ".join(overall.reasons))
    skipped = record.totals().get("skipped", 0)
    if skipped:
        verdict.append(f" ({skipped} skipped)", style="yellow")
    paths = f"  report: {report_dir / REPORT_FILE}  junit: {report_dir / JUNIT_FILE}"
    stdout().print(Text.assemble(verdict, paths))


def suite_verdict(code: int, record: RunRecord) -> Verdict:
    """PASS when pytest exited 0 and nothing failed or errored; else FAIL with the counts."""
    if code == 0 and record.ok:
        return Verdict(PASS)
    reasons = [counts(record)]
    if record.extra.get("gate") == "FAIL":
        reasons.append("a regression against the baseline (--baseline)")
    elif record.ok:
        reasons.append(f"pytest exit code {code}")
    return Verdict(FAIL, tuple(reasons))


def run(args: argparse.Namespace) -> int:
    """Run the suite with a progress bar, then the latency step; one verdict from every step is
    printed last, written at the top of report.md and of every latency page, and is the exit status."""
    from rig.pytest_plugin.options import default_spec

    spec = valid_spec(args.rig) if args.rig else default_spec()
    report_dir = writable_dir(args.report_dir or default_report_dir(), "report directory")
    if not args.no_latency:
        writable_dir(default_path().parent, "history directory")
    out = stdout()
    out.print(f"rig run: conformance suites on [bold]{spec}[/], report in {report_dir}")
    picked = pick([spec], args.suite)
    argv = pytest_args(spec, report_dir, args.suite, args.rig_strict, args.capture,
                       picked.paths if picked else ()) + history_args(args)
    with Progress(TextColumn("{task.description:<50}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=out, transient=True, disable=not out.is_terminal) as progress:
        code = int(pytest.main(argv, plugins=[ProgressPlugin(progress)]))
    if code in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RunFailed(f"pytest could not run the suite (exit code {code}: {pytest.ExitCode(code).name})")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise RunFailed(f"no tests collected from {suite_dir(args.suite)}")
    junit = report_dir / JUNIT_FILE
    if junit.exists():  # pytest writes it with the umask's mode: no more than 0644
        junit.chmod(junit.stat().st_mode & FILE_MODE)
    record = RunRecord.load(report_dir)
    if picked is not None:
        record.extra["suites"] = list(picked.lines)
    _summary(record)
    for line in record.extra.get("history", []):  # what --history / --baseline stored and found
        out.print(line, highlight=False, markup=False)
    steps: list[tuple[str, Verdict]] = [("conformance suite", suite_verdict(code, record))]
    pages = [] if args.no_latency else _latency(spec, report_dir, args.latency_count, args.loss_tolerance,
                                                latency_capture(args.capture))
    steps += [(f"latency {page.run.path if page.run else page.report.stem}", page.verdict or Verdict(PASS))
              for page in pages]
    overall = combine(steps)
    for page in pages:
        restamp(page, overall)
    record.extra["verdict"] = overall.line()
    record.extra["latency"] = [f"[{f.report.stem}](latency/{f.report.name}) (samples: "
                               f"[JSON](latency/{f.json.name}), [CSV](latency/{f.csv.name}))" for f in pages]
    record.extra["latency_figures"] = [headline(page.run, page.verdict) for page in pages if page.run]
    caveats = dict.fromkeys(note for page in pages if page.run and (note := caveat(page.run)))
    record.extra["latency_caveat"] = " ".join(caveats)
    write_report(record, report_dir)
    _print_verdict(record, overall, report_dir)
    return overall.exit_status


def _latency(spec: str, report_dir: Path, count: int, loss_tolerance: int,
             capture: Path | None = None) -> list[ReportFiles]:
    """Latency on every path the target has, into report_dir/latency/; each page with its verdict."""
    from rig.measure import runner

    out = stdout()
    files = runner.latency_report_for(spec, report_dir / "latency", count=count, console=out,
                                      loss_tolerance=loss_tolerance, capture=capture,
                                      progress=lambda label: progress_bar(True, label))
    out.print("  latency: " + ", ".join(str(f.report) for f in files))
    return files
