"""Recording the session into the RunRecord (each test's outcome and message, collection errors)
and, with --rig-report, writing record.json and report.md at the end (rig.pytest_plugin.run_report)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from rig.pytest_plugin.capture import after_phase
from rig.pytest_plugin.run_report import RunRecord, write_report
from rig.pytest_plugin.state import STATE, state_of


def run_record(config: pytest.Config) -> RunRecord:
    """The session's RunRecord (what --rig-report writes): tests may add to `record.extra`."""
    return state_of(config).record


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "rig_target" in callspec.params:
        return str(callspec.params["rig_target"])
    return None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    _record_phase(item.config, report, _target_of(item))
    after_phase(item, report)
    return report


def _record_phase(config: pytest.Config, report: pytest.TestReport, target: str | None = None) -> None:
    record = state_of(config).record
    result = record.result(report.nodeid, target)
    result.duration_s += report.duration
    if report.when == "call" and hasattr(report, "wasxfail"):
        result.outcome = "xfailed" if report.skipped else "xpassed"
        result.message = str(report.wasxfail)
        return
    if report.failed:
        result.outcome = "failed" if report.when == "call" else "error"
        text = report.longreprtext.strip().splitlines()
        errors = [line for line in text if line.startswith("E ")]
        result.message = (errors[0][1:].strip() if errors else (text[-1] if text else "")) or report.when
    elif report.skipped and result.outcome == "passed":
        result.outcome = "skipped"
        longrepr = report.longrepr
        result.message = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        result.message = result.message.removeprefix("Skipped: ")


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector
                               ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """A file that cannot be collected is an error in the run record (it would otherwise vanish)."""
    report = yield
    if report.failed and STATE in collector.config.stash:
        result = state_of(collector.config).record.result(report.nodeid or "(collection)", None)
        result.outcome = "error"
        lines = report.longreprtext.strip().splitlines()
        errors = [line for line in lines if line.startswith("E ")]
        last = errors[-1][1:].strip() if errors else (lines[-1] if lines else "")
        result.message = f"collection failed: {last}"
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the session's targets, then write the report (also when a close failed)."""
    state = state_of(session.config)
    try:
        state.pool.close()
    finally:
        if state.report_dir is not None:
            from datetime import UTC, datetime

            state.record.finished_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            write_report(state.record, state.report_dir)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = state_of(config)
    if state.report_dir is not None:
        terminalreporter.write_line(f"rig: report written to {state.report_dir / 'report.md'}")
