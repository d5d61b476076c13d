"""Recording the session into the RunRecord (each test's outcome and message, collection errors)
and, with --rig-report, writing record.json and report.md at the end (rig.pytest_plugin.run_report)."""

from __future__ import annotations

import itertools
from collections.abc import Generator
from dataclasses import asdict
from typing import Any

import pytest

from rig.pytest_plugin.capture import after_phase
from rig.pytest_plugin.history_store import store_and_gate
from rig.pytest_plugin.pool import WORKER_OUTPUT, is_controller, is_pool_param, is_worker
from rig.pytest_plugin.run_report import NOT_APPLICABLE, RunRecord, write_report
from rig.pytest_plugin.state import STATE, RigState, state_of

_HISTORY_LINES = pytest.StashKey[list[str]]()
"""What --rig-history and --rig-baseline said at session finish, for the terminal summary."""
WORKER_DOWN = "(xdist worker"
"""How the run record names a worker that went down (an error of its own: its records are lost)."""
TARGET_PROPERTY = "rig_target"
"""The user property (and JUnit <property>) naming the target a test ran on."""
WORKER_PROPERTY = "rig_worker"
"""In a pool under xdist, the user property naming the worker (gw0, ...) that ran the test."""


class WorkerRecords:
    """What an xdist worker gathers besides outcomes (target facts, counters, pool notes, tests not
    applicable), handed to the controller piecewise: each test report carries what is new since the
    last one (reports are what the controller surely receives while the worker lives), and the
    worker's workeroutput the rest at its end. A worker that dies after its last report so loses
    nothing the report did not say already: the merged report lists every target that ran a test."""

    def __init__(self) -> None:
        self.facts: dict[str, dict[str, str]] = {}
        self.counters = 0
        self.notes = 0
        self.not_applicable_sent = False

    def unsent(self, state: RigState) -> dict[str, Any]:
        """What this worker gathered and has not handed on yet (empty when nothing)."""
        record = state.record
        out: dict[str, Any] = {}
        facts = {spec: dict(f) for spec, f in record.targets.items() if self.facts.get(spec) != f}
        if facts:
            out["targets"] = facts
            self.facts.update(facts)
        if len(record.counters) > self.counters:
            out["counters"] = dict(itertools.islice(record.counters.items(), self.counters, None))
            self.counters = len(record.counters)
        notes = state.plan.notes if state.plan is not None else []
        if len(notes) > self.notes:
            out["notes"] = list(notes[self.notes:])
            self.notes = len(notes)
        if not self.not_applicable_sent:  # fixed at collection: with the first report
            self.not_applicable_sent = True
            out["not_applicable"] = [asdict(t) for t in record.tests if t.outcome == NOT_APPLICABLE]
        return out


_WORKER_RECORDS = pytest.StashKey[WorkerRecords]()


def unsent_records(config: pytest.Config) -> dict[str, Any]:
    """This worker's records not yet handed to the controller (WorkerRecords)."""
    records = config.stash.setdefault(_WORKER_RECORDS, WorkerRecords())
    return records.unsent(state_of(config))


def merge_worker_output(state: RigState, output: dict[str, Any]) -> None:
    """Fold what a worker handed on (with a report, or at its end) into the controller's record."""
    for spec, facts in dict(output.get("targets", {})).items():
        state.record.targets.setdefault(str(spec), {}).update(facts)
    state.record.counters.update(output.get("counters", {}))
    for test in output.get("not_applicable", []):  # every worker deselected the same: recorded once
        result = state.record.result(str(test["nodeid"]), test["target"])
        result.outcome, result.message = NOT_APPLICABLE, str(test["message"])
    notes = [str(n) for n in output.get("notes", [])]
    if notes:
        state.record.settings["pool notes"] = "; ".join(
            [state.record.settings["pool notes"], *notes] if "pool notes" in state.record.settings else notes)


def run_record(config: pytest.Config) -> RunRecord:
    """The session's RunRecord (what --rig-report writes): tests may add to `record.extra`."""
    return state_of(config).record


def _target_of(item: pytest.Item) -> str | None:
    """The target spec a test ran on (a pool's split-mode parameter resolved to the leased target)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None or "rig_target" not in callspec.params:
        return None
    spec = str(callspec.params["rig_target"])
    plan = state_of(item.config).plan
    if plan is not None and is_pool_param(spec):
        return plan.split_spec
    return spec


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    target = _target_of(item)
    if target is not None and (TARGET_PROPERTY, target) not in item.user_properties:
        item.user_properties.append((TARGET_PROPERTY, target))  # JUnit <property>, and xdist's reports
        worker = getattr(item.config, "workerinput", {}).get("workerid")
        if worker is not None and state_of(item.config).plan is not None:  # which worker ran a pool test
            item.user_properties.append((WORKER_PROPERTY, str(worker)))
    report = yield
    if not is_worker(item.config):
        _record_phase(item.config, report, target)
    elif STATE in item.config.stash:
        unsent = unsent_records(item.config)
        if unsent:  # reports carry extra attributes, and xdist sends them to its controller
            setattr(report, WORKER_OUTPUT, unsent)
    after_phase(item, report)
    return report


class ControllerRecorder:
    """Under xdist, the controller's share of recording: every worker's test reports (the target
    travels as a user property) and, when a worker ends, the target facts and counters it gathered."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        output = getattr(report, WORKER_OUTPUT, None)
        if isinstance(output, dict):  # before the outcome: a target's facts come with its first test
            merge_worker_output(state_of(self.config), output)
        target = dict(report.user_properties).get(TARGET_PROPERTY)
        _record_phase(self.config, report, None if target is None else str(target))

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: object | None) -> None:
        output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
        if isinstance(output, dict):
            merge_worker_output(state_of(self.config), output)
        elif error is not None:  # it died: what it held after its last report is lost, and that is said
            worker = getattr(getattr(node, "gateway", None), "id", "?")
            result = state_of(self.config).record.result(f"{WORKER_DOWN} {worker})", None)
            result.outcome = "error"
            result.message = (f"worker {worker} went down ({error}) before it handed over its records: "
                              f"its pool notes and device counters after its last test report are lost")


def register_controller(config: pytest.Config) -> None:
    """Under xdist, record in the controller (called from the plugin's pytest_configure)."""
    if is_controller(config):
        config.pluginmanager.register(ControllerRecorder(config), "rig-xdist-controller")


def _record_phase(config: pytest.Config, report: pytest.TestReport, target: str | None = None) -> None:
    record = state_of(config).record
    nodeid = report.nodeid.split("@", 1)[0] if "@" in report.nodeid.rpartition("]")[2] else report.nodeid
    result = record.result(nodeid, target)
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


@pytest.hookimpl(tryfirst=True)  # before xdist's worker sends its workeroutput
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Close the session's targets and give back their leases, then write the report (also when a
    close failed); a worker hands what it gathered to the controller instead."""
    state = state_of(session.config)
    try:
        state.pool.close()
    finally:
        if state.plan is not None:
            state.plan.release_all()
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput[WORKER_OUTPUT] = unsent_records(session.config)
        else:
            lines = session.config.stash[_HISTORY_LINES] = store_and_gate(session.config, state.record)
            if lines:  # also for `rig run`, which has no pytest terminal
                state.record.extra["history"] = lines
            if state.record.extra.get("gate") == "FAIL":
                state.record.settings["regression gate"] = "FAIL (see the terminal summary)"
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
            if session.exitstatus == pytest.ExitCode.OK and any(t.nodeid.startswith(WORKER_DOWN)
                                                                 for t in state.record.tests):
                session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a worker died after its last test
        if state.report_dir is not None:
            from datetime import UTC, datetime

            state.record.finished_utc = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            write_report(state.record, state.report_dir)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = state_of(config)
    for line in config.stash.get(_HISTORY_LINES, []):
        terminalreporter.write_line(line)
    for down in (t for t in state.record.tests if t.nodeid.startswith(WORKER_DOWN)):
        terminalreporter.write_line(f"rig: {down.message}")
    notes = state.record.settings.get("pool notes")
    if notes:  # a stale lock broken, a target that did not open: said here too, not only in the report
        terminalreporter.write_line(f"rig: pool notes: {notes}")
    if state.report_dir is not None:
        terminalreporter.write_line(f"rig: report written to {state.report_dir / 'report.md'}")
    from rig.os_midi import jack_ports

    if jack_ports.quiet_timeouts:
        terminalreporter.write_line(
            f"rig: {jack_ports.quiet_timeouts} JACK port change(s) made before libjack's threads went idle "
            f"(waited {jack_ports.QUIET_WAIT_S:g} s each): libjack's port-list race was left open there "
            f"(rig.os_midi.jack_ports)")
        for detail in jack_ports.quiet_timeout_details:
            terminalreporter.write_line(f"rig:   still busy: {detail}")
    from rig.os_midi import jack

    if jack.unsettled:
        terminalreporter.write_line(
            f"rig: {jack.unsettled} JACK port(s) unregistered before jackd was seen to run the graph "
            f"changes made before (rig.os_midi.jack.settle_graph): libjack's port-list race was left open "
            f"there")
    complaints = jack.server_complaints()
    if complaints:  # e.g. "ClientNotify fails name = ...": a process died with a client on our server
        terminalreporter.write_line(f"rig: the JACK server(s) of this process complained{complaints}")
