"""Pool speed-up: one suite on 4 emulator boards, serially in one pytest vs a pool with pytest-xdist.

Matrix mode: the same tests (tests/conformance_usb on each of 4 emulated boards with distinct unique
IDs) as one serial pytest session over the four targets, and as `--rig-pool ... --rig-pool-mode
matrix -n N`. Split mode: the suite once, serially on one board, and shared out over the pool of four
with `--rig-pool-mode split -n N`. Serial and pool runs alternate (ROUNDS each) so machine load hits
both alike; the figure is the ratio of median wall times (serial / pool) for N = 2 and 4 workers. Both
sides include their start-up (emulator boot, class driver, JACK), as a user waits for it. The load
average before and after is printed: the speed-up depends on the machine's free cores. No goal.
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


def _wall(args: list[str], locks: Path, loads: list[float]) -> float:
    """Wall seconds of one pytest run of SUITE with `args`; the 1-minute load average at its start is
    appended to `loads`."""
    env = dict(os.environ, RIG_LOCK_DIR=str(locks))
    loads.append(os.getloadavg()[0])
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", SUITE, *args],
                          cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"pytest {' '.join(args)} failed:\n{done.stdout[-2000:]}")
    return elapsed


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> bool:
    serial = {"matrix": [f"--rig={spec}" for spec in BOARDS], "split": [f"--rig={BOARDS[0]}"]}
    runs: dict[str, dict[str, list[float]]] = {
        mode: {"serial": [], **{f"pool -n {n}": [] for n in WORKERS}} for mode in serial}
    loads: dict[str, dict[str, list[float]]] = {mode: {name: [] for name in runs[mode]} for mode in serial}
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        for _ in range(ROUNDS):
            for mode, serial_args in serial.items():
                runs[mode]["serial"].append(_wall(serial_args, Path(tmp), loads[mode]["serial"]))
                for n in WORKERS:
                    pool = ["--rig-pool", ";".join(BOARDS), "--rig-pool-mode", mode, "-n", str(n)]
                    name = f"pool -n {n}"
                    runs[mode][name].append(_wall(pool, Path(tmp), loads[mode][name]))
    print(f"  {SUITE} on {len(BOARDS)} emulator boards, {os.cpu_count()} CPUs, median of {ROUNDS} "
          f"alternating runs (wall time, start-up included); load average (1/5/15 min) {load_before} "
          f"before, {_load()} after")
    for mode, walls_by_run in runs.items():
        base = statistics.median(walls_by_run["serial"])
        what = "the suite on every board" if mode == "matrix" else "the suite once (serial: on one board)"
        print(f"  {mode} mode, {what}:")
        for name, walls in walls_by_run.items():
            median = statistics.median(walls)
            each = ", ".join(f"{wall:.1f} s at load {load:.0f}"
                             for wall, load in zip(walls, loads[mode][name], strict=True))
            print(f"    {name:>10}: {median:6.1f} s   speed-up {base / median:4.2f}x of serial  "
                  f"(runs: {each})")
    return True


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
