"""Run records and the readable `report.md`: what ran, on what, with which result and counters.

A `RunRecord` is filled by the pytest plugin and saved as `record.json`; `write_report` renders it
as markdown from a list of section builders, so later measurements (latency, throughput) add a
section with `register_section` instead of editing this module.
"""

from __future__ import annotations

import json
import platform
import socket
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rig.errors import RigError
from rig.output.file_modes import make_dirs, write_text
from rig.output.markdown_text import escape

NOT_APPLICABLE = "not applicable"
"""The outcome of a test no target of the session could run (deselected there; the message says why)."""
RECORD_FILE = "record.json"
REPORT_FILE = "report.md"
JUNIT_FILE = "junit.xml"


class ReportError(RigError, ValueError):
    """A report directory or record file is unusable; the message names the file and why."""


@dataclass
class TestResult:
    """One test's outcome across its setup, call and teardown phases."""

    __test__ = False  # not a pytest test class, despite the name
    nodeid: str
    target: str | None
    outcome: str
    """passed, failed, error, skipped or xfailed/xpassed."""
    duration_s: float = 0.0
    message: str = ""
    """First line of the failure, or the skip reason."""


@dataclass
class RunRecord:
    """Everything a report needs from one pytest session."""

    started_utc: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    finished_utc: str = ""
    host: dict[str, str] = field(default_factory=lambda: host_facts())
    settings: dict[str, str] = field(default_factory=dict)
    targets: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per target spec: describe() facts plus firmware version and serial when a board answered."""
    tests: list[TestResult] = field(default_factory=list)
    counters: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    """Per test nodeid: {"device": Stats, "host": HostCounters} at the end of the test."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Free room for later sections (e.g. latency figures), keyed by section name."""

    def result(self, nodeid: str, target: str | None) -> TestResult:
        """The TestResult for `nodeid`, created as passed on first use."""
        for test in self.tests:
            if test.nodeid == nodeid:
                return test
        test = TestResult(nodeid, target, "passed")
        self.tests.append(test)
        return test

    def totals(self) -> dict[str, int]:
        """Count of tests per outcome."""
        out: dict[str, int] = {}
        for test in self.tests:
            out[test.outcome] = out.get(test.outcome, 0) + 1
        return out

    @property
    def ok(self) -> bool:
        """True when nothing failed or errored (and at least one test ran: not applicable is not run)."""
        totals = self.totals()
        return any(t.outcome != NOT_APPLICABLE for t in self.tests) and not totals.get("failed") \
            and not totals.get("error")

    def save(self, directory: Path) -> Path:
        """Write record.json into `directory` (created if needed)."""
        make_dirs(directory)
        path = directory / RECORD_FILE
        write_text(path, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path) -> RunRecord:
        """Read record.json from `directory`."""
        path = directory / RECORD_FILE
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ReportError(f"{path}: no run record (did the pytest session start?)") from None
        except json.JSONDecodeError as exc:
            raise ReportError(f"{path}: not valid JSON ({exc})") from None
        tests = [TestResult(**t) for t in raw.pop("tests", [])]
        return cls(tests=tests, **raw)


def host_facts() -> dict[str, str]:
    """The machine the run happened on."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


# --- markdown sections ------------------------------------------------------------------------

SectionBuilder = Callable[[RunRecord], "str | None"]
"""Turns a record into one markdown section (starting with a `## ` title), or None to leave it out."""

_sections: list[tuple[str, SectionBuilder]] = []


def register_section(name: str, builder: SectionBuilder) -> None:
    """Add (or replace, by name) a section; sections render in registration order."""
    for i, (existing, _) in enumerate(_sections):
        if existing == name:
            _sections[i] = (name, builder)
            return
    _sections.append((name, builder))


def section_names() -> list[str]:
    """Names of the registered sections, in order."""
    return [name for name, _ in _sections]


def _table(header: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return escape(text)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


def counts(record: RunRecord) -> str:
    """`3 passed, 1 failed`, or `no tests ran`."""
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(record.totals().items())) or "no tests ran"


def verdict_line(record: RunRecord) -> str:
    """The run's one verdict: what `rig run` computed from every step (extra["verdict"]), else the
    suite's own (PASS, or FAIL with the counts)."""
    given = record.extra.get("verdict")
    if isinstance(given, str) and given:
        return given
    return "PASS" if record.ok else f"FAIL: {counts(record)}"


def _summary(record: RunRecord) -> str:
    return (f"## Summary\n\nConformance suite: {counts(record)}.\n\n"
            f"Started {record.started_utc}, finished {record.finished_utc or '(unfinished)'}.")


def _latency(record: RunRecord) -> str | None:
    """The latency step's figures (one row per path: round-trip p50, p99, max, lost, verdict), the
    caveat once, then links to each path's page and samples; placed right under the verdict."""
    links = record.extra.get("latency")
    if not links:
        return None
    parts = ["## Latency"]
    figures: list[dict[str, str]] = record.extra.get("latency_figures") or []
    if figures:
        header = list(figures[0])
        parts.append("Round trip per path (p50, p99, max), messages lost of those sent, and the path's "
                     "verdict:\n\n" + _table(header, [[row.get(k, "") for k in header] for row in figures]))
    if record.extra.get("latency_caveat"):
        parts.append(f"> **Warning:** {escape(record.extra['latency_caveat'])}")
    parts.append("\n".join(f"- {link}" for link in links))
    return "\n\n".join(parts)


def _targets(record: RunRecord) -> str | None:
    if not record.targets:
        return None
    keys: list[str] = []
    for facts in record.targets.values():
        keys += [k for k in facts if k not in keys]
    rows = [[spec] + [facts.get(k, "") for k in keys] for spec, facts in record.targets.items()]
    return "## Targets\n\n" + _table(["spec", *keys], rows)


def _per_target(record: RunRecord) -> str | None:
    """What ran on each target and what was not applicable where (a session of several targets)."""
    notes: dict[str, str] = record.extra.get("target_notes") or {}
    pool: dict[str, str] = record.extra.get("pool_targets") or {}
    tested = [t.target for t in record.tests if t.target]
    specs = list(dict.fromkeys([*pool, *record.targets, *tested, *notes]))
    if len(specs) < 2 and not notes:
        return None
    rows = []
    for spec in specs:
        totals: dict[str, int] = {}
        for test in (t for t in record.tests if t.target == spec):
            totals[test.outcome] = totals.get(test.outcome, 0) + 1
        ran = ", ".join(f"{n} {o}" for o, n in sorted(totals.items()) if o != NOT_APPLICABLE) or "none"
        note = "; ".join(n for n in (pool.get(spec) or ("no selected test ran on it" if not totals else ""),
                                     notes.get(spec, "")) if n)
        rows.append([spec, ran, str(totals.get(NOT_APPLICABLE, 0)), note])
    return "## Per target\n\n" + _table(["target", "ran", NOT_APPLICABLE, "note"], rows)


def _host_and_settings(record: RunRecord) -> str:
    rows = [[k, v] for k, v in record.host.items()] + [[k, v] for k, v in record.settings.items()]
    return "## Host and settings\n\n" + _table(["", ""], rows)


def _results(record: RunRecord) -> str | None:
    if not record.tests:
        return None
    rows = [[t.nodeid, t.outcome.upper(), f"{t.duration_s:.3f}", t.message] for t in record.tests]
    return "## Results\n\n" + _table(["test", "result", "seconds", "detail"], rows)


def _counters(record: RunRecord) -> str | None:
    if not record.counters:
        return None
    parts = ["## Device counters\n\nNon-zero device counters at the end of each test (reset at its start)."]
    for nodeid, books in record.counters.items():
        device = {k: v for k, v in books.get("device", {}).items() if v}
        text = ", ".join(f"{k}={v}" for k, v in device.items()) or "all zero"
        parts.append(f"- `{nodeid}`: {text}")
    return "\n".join(parts[:1]) + "\n\n" + "\n".join(parts[1:])


register_section("latency", _latency)  # first: the figures and verdict a reader looks for
register_section("summary", _summary)
register_section("targets", _targets)
register_section("per target", _per_target)
register_section("host", _host_and_settings)
register_section("results", _results)
register_section("counters", _counters)


def render_markdown(record: RunRecord, title: str = "rig conformance report") -> str:
    """The whole report.md text: the title, the run's verdict, then the sections."""
    parts = [f"# {title}", f"**Verdict: {escape(verdict_line(record))}**"]
    for _, builder in _sections:
        text = builder(record)
        if text:
            parts.append(text.strip())
    return "\n\n".join(parts) + "\n"


def write_report(record: RunRecord, directory: Path) -> Path:
    """Write record.json and report.md into `directory`; returns the report.md path."""
    record.save(directory)
    path = directory / REPORT_FILE
    write_text(path, render_markdown(record))
    return path


def default_report_dir(base: Path = Path("reports")) -> Path:
    """`reports/<UTC timestamp>/`, the main job's default."""
    return base / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
