"""The report's per-target table has a row for every pool target (issue #13): one whose tests were
all deselected says that no selected test ran on it instead of missing from the table (a target left
out of the pool by -n auto says why: tests/pool/test_pool_xdist.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rig.output.markdown_text import escape

REPO = Path(__file__).resolve().parents[2]
SUITE = "tests/conformance_usb/test_descriptors.py"
RAN, IDLE = "loopback:0000000000000101", "loopback:0000000000000102"


def test_every_pool_target_has_a_row_also_with_no_test_run(tmp_path: Path) -> None:
    report = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", SUITE, "--rig-pool",
         f"{RAN};{IDLE}", "--rig-pool-mode", "matrix", "-k", RAN.split(":")[1],
         "--rig-report", str(report)],
        cwd=REPO, env=dict(os.environ, RIG_LOCK_DIR=str(tmp_path / "locks")), capture_output=True, text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    per_target = (report / "report.md").read_text().split("## Per target", 1)[1].split("\n## ", 1)[0]
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in per_target.splitlines()
            if line.startswith("| ") and not line.startswith("| target")}
    assert set(rows) == {escape(RAN), escape(IDLE)}, per_target
    assert rows[escape(RAN)].startswith(f"| {escape(RAN)} | 16 passed | 0 |"), per_target
    assert rows[escape(IDLE)] == f"| {escape(IDLE)} | none | 0 | no selected test ran on it |", per_target
