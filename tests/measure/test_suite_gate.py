"""Test sessions in the history, one run per target (spec and board serial as the key), and the
outcome gate comparing two sessions target by target: a regression is named with its target, targets
in only one session are named and not compared, and `rig history --compare` exits 1 only on a
regression."""

from __future__ import annotations

from pathlib import Path

import pytest

from rig.measure.history import SUITE, History, HistoryError, SuiteTarget
from rig.measure.suite_gate import compare_suites
from rig.pytest_plugin.history_store import id_without_target, suite_targets
from rig.pytest_plugin.run_report import RunRecord

from .cli_runner import run_cli
from .synthetic import latency_run

A = "emulator:uid=E000000000000001"
B = "loopback:0000000000000102"
TESTS = {"t.py::test_one": "passed", "t.py::test_two": "passed", "t.py::test_three[x]": "passed"}


def session(h: History, name: str, **outcomes: dict[str, str]) -> list[int]:
    """Store a session with targets A and B (serials S1, S2): TESTS, changed by `outcomes` per target
    ("a" / "b"), leaving out a target given as {"absent": ""}."""
    targets = []
    for key, spec, serial in (("a", A, "E000000000000001"), ("b", B, "0000000000000102")):
        changes = outcomes.get(key, {})
        if "absent" not in changes:
            targets.append(SuiteTarget(spec, serial, "1.0.0", {**TESTS, **changes}))
    return h.store_suite(name, "2026-12-05T09:00:00Z", targets)


def test_a_session_is_stored_per_target_and_read_back_whole(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        ids = session(h, "s1", b={"t.py::test_two": "failed"})
        assert len(ids) == 2
        assert [r.run_id for r in h.session_runs(ids[1])] == ids
        rows = h.runs(kind=SUITE)
        assert {r.target for r in rows} == {A, B}
        assert {r.headline() for r in rows} == {"3 passed", "1 failed, 2 passed"}


def test_a_test_that_passed_on_a_target_and_fails_there_now_is_a_regression_on_that_target(
        tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        base = session(h, "base")
        same = session(h, "same")
        broken = session(h, "broken", b={"t.py::test_two": "failed"})
        ok = compare_suites(h.session_runs(same[0]), h.session_runs(base[0]))
        assert ok.passed and len(ok.compared) == 2
        gate = compare_suites(h.session_runs(broken[0]), h.session_runs(base[0]))
    assert not gate.passed
    assert gate.regressions == (f"t.py::test_two on {B} (serial 0000000000000102): passed in the baseline, "
                                f"failed now",)
    assert gate.lines()[-1].endswith("FAIL")


def test_targets_in_only_one_session_are_named_and_not_compared(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        base = session(h, "base", a={"absent": ""})
        now = session(h, "now", a={"t.py::test_one": "failed"}, b={"absent": ""})
        gate = compare_suites(h.session_runs(now[0]), h.session_runs(base[0]))
    assert gate.passed and not gate.compared  # A failing is no regression: it has no baseline
    assert f"target {A} (serial E000000000000001) is not in the baseline: not compared" in gate.notes
    assert f"target {B} (serial 0000000000000102) of the baseline did not run now: not compared" in gate.notes


def test_the_same_spec_with_another_board_serial_is_another_target(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        base = h.store_suite("base", "t", [SuiteTarget("board", "AAAA", None, TESTS)])
        failing = {**TESTS, "t.py::test_one": "failed"}
        now = h.store_suite("now", "t", [SuiteTarget("board", "BBBB", None, failing)])
        gate = compare_suites(h.session_runs(now[0]), h.session_runs(base[0]))
    assert gate.passed and "target board (serial BBBB) is not in the baseline: not compared" in gate.notes


def test_a_measurement_run_is_not_gated_as_a_session(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        ids = session(h, "s")
        latency = h.store(latency_run(n=20))
        with pytest.raises(HistoryError, match=f"baseline run {latency} is a latency run"):
            compare_suites(h.session_runs(ids[0]), h.session_runs(latency))


def test_rig_history_compare_gates_sessions_per_target(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.sqlite"
    with History(path) as h:
        base = session(h, "base")
        same = session(h, "same")
        broken = session(h, "broken", a={"t.py::test_three[x]": "error"})
    assert run_cli("history", "--history", str(path), "--compare", str(same[1]), str(base[0])) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith("PASS")
    assert run_cli("history", "--history", str(path), "--compare", str(broken[0]), str(base[1])) == 1
    said = " ".join(capsys.readouterr().out.split())
    regression = f"t.py::test_three[x] on {A} (serial E000000000000001): passed in the baseline, error now"
    assert f"REGRESSION {regression}" in said, said
    assert run_cli("history", "--history", str(path), "--kind", SUITE) == 0
    assert "1 error, 2 passed" in capsys.readouterr().out


def test_a_session_record_is_grouped_by_the_target_each_test_ran_on() -> None:
    record = RunRecord(targets={A: {"serial": "E000000000000001", "firmware": "1.0.0"}})
    record.result("t.py::test_one[pool:ours]", A).outcome = "failed"
    record.result(f"t.py::test_two[{B}-9 bits]", B)
    record.result("t.py (collection)", None).outcome = "error"
    (a, b) = suite_targets(record)
    assert (a.key, a.tests) == (f"{A} (serial E000000000000001)", {"t.py::test_one": "failed"})
    assert (b.key, b.tests) == (B, {"t.py::test_two[9 bits]": "passed"})
    assert id_without_target("t.py::test[x-pool]", "loopback") == "t.py::test[x]"


def test_in_split_mode_a_test_that_moved_to_another_target_and_fails_there_is_a_regression(
        tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as h:
        base = h.store_suite("base", "t", [SuiteTarget(A, None, None, {"t.py::test_one": "passed"}),
                                           SuiteTarget(B, None, None, {"t.py::test_two": "passed"})])
        now = h.store_suite("now", "t", [SuiteTarget(A, None, None, {"t.py::test_two": "passed"}),
                                         SuiteTarget(B, None, None, {"t.py::test_one": "failed"})])
        gate = compare_suites(h.session_runs(now[0]), h.session_runs(base[0]))
    assert gate.regressions == (f"t.py::test_one on {B}: failed now; it passed on {A} in the baseline",)
