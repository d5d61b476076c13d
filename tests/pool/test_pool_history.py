"""A pool run's outcomes in the history per target, and the regression gate per target (issue #13):
a matrix pool of two loopbacks stores one run per target (spec and board serial as the key); a second
run, under pytest-xdist, with a regression injected on one target fails the session naming that
target only; a third, green again, passes the gate. The history is this test's own file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rig.measure.history import SUITE, History

REPO = Path(__file__).resolve().parents[2]
A, B = "loopback:0000000000000101", "loopback:0000000000000102"


def run_pool(tmp_path: Path, *args: str, broken: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RIG_LOCK_DIR=str(tmp_path / "locks"), RIG_HISTORY=str(tmp_path / "h.sqlite"),
               RIG_TEST_BREAK=broken)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "tests/pool/gated",
         "-o", "python_files=check_*.py", "--rig-pool", f"{A};{B}", "--rig-pool-mode", "matrix",
         "--rig-history", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_a_pool_run_is_stored_per_target_and_gated_per_target(tmp_path: Path) -> None:
    first = run_pool(tmp_path)
    assert first.returncode == 0, first.stdout[-3000:]
    with History(tmp_path / "h.sqlite") as h:
        rows = h.runs(kind=SUITE)
        assert {r.target for r in rows} == {A, B} and {r.headline() for r in rows} == {"2 passed"}
        assert {r.summary["serial"] for r in rows} == {A.split(":")[1], B.split(":")[1]}
        baseline = rows[0].run_id

    broken = run_pool(tmp_path, "-n", "2", "--rig-baseline", "latest", broken=B)
    said = " ".join(broken.stdout.split())
    assert broken.returncode == 1, said[-3000:]
    assert (f"rig REGRESSION tests/pool/gated/check_gate.py::test_breakable on {B} (serial "
            f"{B.split(':')[1]}): passed in the baseline, failed now") in said, said[-3000:]
    assert said.count("REGRESSION") == 1 and "FAIL" in said

    green = run_pool(tmp_path, "--rig-baseline", str(baseline))
    said = " ".join(green.stdout.split())
    assert green.returncode == 0, said[-3000:]
    assert f"rig compared {A} (serial {A.split(':')[1]}): 2 tests in both sessions" in said
    assert "REGRESSION" not in said and said.count(": PASS") == 1, said[-3000:]
