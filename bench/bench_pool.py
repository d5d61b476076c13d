"""Pool speed-up: one suite on 4 emulator boards, serially in one pytest vs a pool with pytest-xdist.

The same tests (tests/conformance_usb on each of 4 emulated boards with distinct unique IDs) run as one
serial pytest session over the four targets and as `--rig-pool ... --rig-pool-mode matrix -n N`,
alternating serial and pool runs (ROUNDS each) so machine load hits both alike; the figure is the
ratio of median wall times (serial / pool) for N = 2 and 4 workers. Both sides include their start-up
(emulator boot, class driver, JACK), as a user waits for it. There is no goal: the speed-up depends on
the machine's cores (the tests are mostly waiting on the emulated device, not computing).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SUITE = "tests/conformance_usb"
BOARDS = [f"emulator:uid=B000000000000{n:03d}" for n in range(1, 5)]
ROUNDS = 2
WORKERS = (2, 4)


def _wall(args: list[str], locks: Path) -> float:
    env = dict(os.environ, RIG_LOCK_DIR=str(locks))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", SUITE, *args],
                          cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(args)} failed:\n{done.stdout[-2000:]}")
    return elapsed


def main() -> bool:
    pool = ["--rig-pool", ";".join(BOARDS), "--rig-pool-mode", "matrix"]
    runs: dict[str, list[float]] = {"serial": [], **{f"pool -n {n}": [] for n in WORKERS}}
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        for _ in range(ROUNDS):
            runs["serial"].append(_wall([f"--rig={spec}" for spec in BOARDS], Path(tmp)))
            for n in WORKERS:
                runs[f"pool -n {n}"].append(_wall([*pool, "-n", str(n)], Path(tmp)))
    serial = statistics.median(runs["serial"])
    print(f"  {SUITE} on {len(BOARDS)} emulator boards, {os.cpu_count()} CPUs, median of {ROUNDS} "
          f"alternating runs (wall time, start-up included)")
    for name, walls in runs.items():
        median = statistics.median(walls)
        print(f"  {name:>10}: {median:6.1f} s   speed-up {serial / median:4.2f}x of serial")
    return True


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
