"""`rig test` and `rig run` store a session's outcomes per target in the run history (`--history`) and
gate it against an earlier session (`--baseline RUN|latest`, which implies --history): the pytest
plugin's --rig-history / --rig-baseline (rig.pytest_plugin.history_store) under the CLI's names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rig.cli import build_parser
from rig.cli._suite import history_args
from rig.cli.run_cmd import suite_verdict
from rig.cli.test_cmd import pytest_args
from rig.pytest_plugin.run_report import RunRecord, TestResult

REPO = Path(__file__).resolve().parents[2]
TARGET = "loopback:0000000000000103"


@pytest.mark.parametrize("command", ["test", "run"])
def test_history_and_baseline_become_the_plugins_options(command: str) -> None:
    parser = build_parser()
    assert history_args(parser.parse_known_args([command])[0]) == []
    assert history_args(parser.parse_known_args([command, "--history"])[0]) == ["--rig-history"]
    assert history_args(parser.parse_known_args([command, "--baseline", "latest"])[0]) == [
        "--rig-history", "--rig-baseline", "latest"]


def test_rig_test_passes_them_to_pytest_before_the_pass_through_arguments() -> None:
    args, extra = build_parser().parse_known_args(["test", "--suite", "tests", "--baseline", "7", "-k", "x"])
    args.extra = extra
    argv = pytest_args(args)
    assert argv[-5:] == ["--rig-history", "--rig-baseline", "7", "-k", "x"]


def test_a_regression_is_the_reason_rig_run_gives_for_its_fail() -> None:
    record = RunRecord(tests=[TestResult("t.py::test[loopback]", "loopback", "failed")])
    record.extra["gate"] = "FAIL"
    verdict = suite_verdict(1, record)
    assert not verdict.passed and "a regression against the baseline (--baseline)" in verdict.reasons


def rig_test(tmp_path: Path, *args: str, broken: str = "") -> subprocess.CompletedProcess[str]:
    """`rig test` on the gated suite (two tests; the second fails on the target RIG_TEST_BREAK names)
    with this test's own history file and lock directory."""
    env = dict(os.environ, RIG_HISTORY=str(tmp_path / "h.sqlite"), RIG_LOCK_DIR=str(tmp_path / "locks"),
               RIG_TEST_BREAK=broken)
    return subprocess.run(
        [sys.executable, "-m", "rig.cli", "test", "--rig", TARGET, "--suite", "tests/pool/gated", *args,
         "-o", "python_files=check_*.py", "-p", "no:cacheprovider"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_rig_test_stores_the_session_and_fails_on_a_regression_against_the_latest(tmp_path: Path) -> None:
    first = rig_test(tmp_path, "--history")
    assert first.returncode == 0, first.stdout[-3000:]
    assert "rig history: stored 1 target run(s)" in first.stdout, first.stdout[-3000:]
    broken = rig_test(tmp_path, "--baseline", "latest", broken=TARGET)
    said = " ".join(broken.stdout.split())
    assert broken.returncode == 1, said[-3000:]
    assert (f"rig REGRESSION tests/pool/gated/check_gate.py::test_breakable on {TARGET} (serial "
            f"{TARGET.split(':')[1]}): passed in the baseline, failed now") in said, said[-3000:]
