"""`make test`'s pytest-xdist options end the run when a worker dies, naming the test it died in.

pytest-xdist 3.8 replaces a crashed worker and, under --dist loadfile, may then wait forever for
work it never hands out (pytest-xdist issues #784, #1327): a 3-worker CI run on the loaded machine
hung so. Here the Makefile's own options run a throwaway suite whose first file kills its worker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KILLS = "import os, signal\n\ndef test_fn():\n    os.kill(os.getpid(), signal.SIGKILL)\n"
PASSES = "def test_fn():\n    pass\n"
RUN_TIMEOUT_S = 120
"""Far above the few seconds the run takes on the loaded machine; the hang never ends."""


def xdist_args(workers: int) -> list[str]:
    """XDIST_ARGS as `make test TEST_WORKERS=workers` expands it (read from the Makefile by make)."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed: it runs CI's test command")
    printer = "print-xdist:\n\t@printf '%s\\n' '$(XDIST_ARGS)'\n"  # echo would take -n as its own flag
    done = subprocess.run(["make", "--no-print-directory", "-s", "-f", "Makefile", "-f", "-", "print-xdist",
                           f"TEST_WORKERS={workers}"], input=printer, cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=True)
    return done.stdout.split()


def test_make_tests_xdist_options_end_the_run_when_a_worker_dies(tmp_path: Path) -> None:
    for name, body in (("test_1_kill.py", KILLS), ("test_2_pass.py", PASSES), ("test_3_kill.py", KILLS)):
        (tmp_path / name).write_text(body)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # a session of its own: not the repo's conftest
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # xdist alone: three processes start faster
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "xdist", *xdist_args(2),
               "test_1_kill.py", "test_2_pass.py", "test_3_kill.py"]
    try:
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else str(exc.stdout)
        pytest.fail(f"the run hung after a worker died ({RUN_TIMEOUT_S} s):\n{out[-2000:]}")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-3000:] + done.stderr[-2000:]
    assert "crashed while running 'test_1_kill.py::test_fn'" in done.stdout, done.stdout[-3000:]
