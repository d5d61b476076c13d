"""`--rig-history`: the session's test outcomes go into the run history (rig.measure.history), one
run per target with the target spec and its board serial as the key; `--rig-baseline RUN|latest`
gates them against an earlier session target by target (rig.measure.suite_gate), and a regression
fails the session. A pool's xdist controller stores the merged outcomes; workers store nothing."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from rig.pytest_plugin.pool import POOL_OURS_PARAM, POOL_PARAM
from rig.pytest_plugin.run_report import RunRecord

if TYPE_CHECKING:  # imported with --rig-history only: the history (numpy) costs every session 0.1 s
    from rig.measure.history import History, SuiteTarget
    from rig.measure.suite_gate import SuiteVerdict


def add_options(group: pytest.OptionGroup) -> None:
    group.addoption("--rig-history", action="store_true", dest="rig_history", default=False,
                    help="store this session's test outcomes per target in the run history "
                         "($RIG_HISTORY, else ~/.local/share/rig/history.sqlite)")
    group.addoption("--rig-baseline", dest="rig_baseline", metavar="RUN", default=None,
                    help="with --rig-history: compare the outcomes per target with the session of run "
                         "id RUN, or 'latest' (the newest earlier session); a regression fails the session")


def id_without_target(nodeid: str, target: str) -> str:
    """`nodeid` without its target parameter, so runs on different targets name a test alike."""
    for token in (target, POOL_OURS_PARAM, POOL_PARAM):
        for old, new in ((f"[{token}]", ""), (f"[{token}-", "["), (f"-{token}]", "]"), (f"-{token}-", "-")):
            if old in nodeid:
                return nodeid.replace(old, new, 1)
    return nodeid


def suite_targets(record: RunRecord) -> list[SuiteTarget]:
    """The record's outcomes grouped by the target each test ran on (tests without one are left out:
    collection errors belong to no target)."""
    from rig.measure.history import SuiteTarget

    grouped: dict[str, dict[str, str]] = {}
    for test in record.tests:
        if test.target:
            grouped.setdefault(test.target, {})[id_without_target(test.nodeid, test.target)] = test.outcome
    out = []
    for spec, tests in grouped.items():
        facts = record.targets.get(spec, {})
        out.append(SuiteTarget(spec, facts.get("serial") or None, facts.get("firmware") or None, tests))
    return out


def store_and_gate(config: pytest.Config, record: RunRecord) -> list[str]:
    """Store the session (with --rig-history) and gate it (with --rig-baseline): the lines to show,
    and `record.extra["gate"]` set to PASS or FAIL when a gate ran."""
    if not config.getoption("rig_history", False):
        return []
    from rig.measure.history import History, HistoryError

    targets = suite_targets(record)
    if not targets:
        return ["rig history: no test ran on a target; nothing stored"]
    try:
        with History() as history:
            session = f"{record.started_utc}-{uuid.uuid4().hex[:8]}"
            ids = history.store_suite(session, record.started_utc, targets)
            lines = [f"rig history: stored {len(ids)} target run(s) ({', '.join(map(str, ids))}) in "
                     f"{history.path}"]
            baseline = config.getoption("rig_baseline", None)
            if baseline is None:
                return lines
            verdict = _gate(history, ids[0], str(baseline))
    except (HistoryError, ValueError) as exc:
        record.extra["gate"] = "FAIL"
        return [f"rig history: {exc}"]
    if verdict is None:
        return [*lines, "rig history: no earlier session to compare with; gate skipped"]
    record.extra["gate"] = "PASS" if verdict.passed else "FAIL"
    return lines + [f"rig {line}" for line in verdict.lines()]


def _gate(history: History, run_id: int, baseline: str) -> SuiteVerdict | None:
    """This session (of `run_id`) against `baseline` (a run id, or latest: the newest earlier suite
    session); None when 'latest' finds none."""
    from rig.measure.history import SUITE, HistoryError
    from rig.measure.suite_gate import compare_suites

    mine = history.session_runs(run_id)
    if baseline == "latest":
        older = [r for r in history.runs(kind=SUITE) if r.run_id < min(m.run_id for m in mine)]
        if not older:
            return None
        base = history.session_runs(older[0].run_id)
    else:
        try:
            base = history.session_runs(int(baseline))
        except ValueError:
            raise HistoryError(f"--rig-baseline {baseline!r}: expected a run id or 'latest'") from None
    return compare_suites(mine, base)
