"""The regression gate for test outcomes: one pytest session's results (rig.measure.history SUITE
runs, one per target) against a baseline session's, target by target, the target spec and its board
serial being the key. A test that passed on a target in the baseline and fails or errors there now is
a regression named with that target (in split mode, where a test may move between targets of both
sessions, one that passed on another of them); a target present in only one of the sessions is
named, not compared."""

from __future__ import annotations

from dataclasses import dataclass

from rig.measure.history import SUITE, HistoryError, RunRow

FAILING = frozenset({"failed", "error"})


@dataclass(frozen=True)
class SuiteVerdict:
    """The gate's answer for two sessions: regressions (each names test and target), what was
    compared, and notes on what could not be."""

    run_ids: tuple[int, ...]
    baseline_ids: tuple[int, ...]
    regressions: tuple[str, ...]
    compared: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def passed(self) -> bool:
        """True when no test regressed on any target compared."""
        return not self.regressions

    def lines(self) -> list[str]:
        """What the console and CI logs show, the verdict last."""
        out = [f"compared {line}" for line in self.compared]
        out += [f"REGRESSION {line}" for line in self.regressions]
        out += [f"note: {line}" for line in self.notes]
        out.append(f"gate: session of run {self.run_ids[0]} vs baseline session of run "
                   f"{self.baseline_ids[0]}: {'PASS' if self.passed else 'FAIL'}")
        return out


def _by_key(rows: list[RunRow], which: str) -> dict[str, dict[str, str]]:
    """Target key -> test -> outcome; HistoryError when a run is not a suite run."""
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        if row.kind != SUITE:
            raise HistoryError(f"{which} run {row.run_id} is a {row.kind} run, not a test session's "
                               f"({SUITE}): the outcome gate compares test sessions")
        serial = row.summary.get("serial")
        key = f"{row.target} (serial {serial})" if serial else row.target
        out[key] = {str(k): str(v) for k, v in dict(row.summary.get("tests", {})).items()}
    return out


def compare_suites(run: list[RunRow], baseline: list[RunRow]) -> SuiteVerdict:
    """Gate session `run` (its runs, one per target) against session `baseline`, per target."""
    now, base = _by_key(run, "the"), _by_key(baseline, "baseline")
    regressions: list[str] = []
    compared: list[str] = []
    notes: list[str] = []
    passed_where: dict[str, list[str]] = {}
    for key, tests in base.items():
        for test, outcome in tests.items():
            if outcome == "passed":
                passed_where.setdefault(test, []).append(key)
    for key in (k for k in now if k not in base):
        notes.append(f"target {key} is not in the baseline: not compared")
    for key in (k for k in base if k not in now):
        notes.append(f"target {key} of the baseline did not run now: not compared")
    for key, tests in now.items():
        before = base.get(key)
        if before is None:
            continue
        compared.append(f"{key}: {sum(1 for t in tests if t in before)} tests in both sessions")
        for test, outcome in sorted(tests.items()):
            if before.get(test) == "passed" and outcome in FAILING:
                regressions.append(f"{test} on {key}: passed in the baseline, {outcome} now")
            elif before.get(test) == "passed" and outcome != "passed":
                notes.append(f"{test} on {key}: passed in the baseline, {outcome} now")
        gone = sorted(t for t, o in before.items() if o == "passed" and t not in tests)
        if gone:
            notes.append(f"{len(gone)} test(s) that passed on {key} in the baseline did not run there now "
                         f"(e.g. {gone[0]})")
    for key, tests in now.items():  # split mode: a test may have run on another target last time
        if key not in base:
            continue
        for test, outcome in sorted(tests.items()):
            elsewhere = [k for k in passed_where.get(test, []) if k != key]
            if outcome in FAILING and test not in base[key] and elsewhere:
                regressions.append(f"{test} on {key}: {outcome} now; it passed on {elsewhere[0]} in the "
                                   f"baseline")
    return SuiteVerdict(tuple(r.run_id for r in run), tuple(r.run_id for r in baseline), tuple(regressions),
                        tuple(compared), tuple(notes))
