"""Where the firmware's cycles go: a MIDI echo's emulated cycles charged to the firmware's functions.

The bridge sums rp2040js's cycle figures per instruction address when env RIG_BRIDGE_PROFILE=1 (INFO's
`cycles_by_pc`); each address is charged to the function the ELF's symbol table (arm-none-eabi-nm)
places it in. The cycles of an interrupt's first instruction go to the instruction it interrupted
(the `main` idle loop), as the bridge reads the address before the core takes the interrupt.
Usage: python -m bench.cycle_profile [MESSAGES_PER_TRANSFER]   (default 1)
"""

from __future__ import annotations

import bisect
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import bench_cycles as bench
from rig import contract as c
from rig.links.emulator import EmulatorLink

ELF = bench.IMAGE.with_suffix(".elf")
PROFILE_ENV = "RIG_BRIDGE_PROFILE"


def functions(elf: Path) -> tuple[list[int], list[str]]:
    """Start addresses (sorted, Thumb bit clear) and names of the ELF's functions."""
    nm = shutil.which("arm-none-eabi-nm")
    if nm is None:
        raise RuntimeError("arm-none-eabi-nm not found (apt-get install gcc-arm-none-eabi)")
    listing = subprocess.run([nm, "-n", str(elf)], capture_output=True, text=True, timeout=60,
                             check=True).stdout
    rows = sorted((int(row[0], 16) & ~1, row[2]) for row in (line.split() for line in listing.splitlines())
                  if len(row) == 3 and row[1] in "tTwW")
    return [a for a, _ in rows], [n for _, n in rows]


def charge(cycles_by_pc: dict[int, float], starts: list[int], names: list[str]) -> dict[str, float]:
    """Cycles per function name; an address below every symbol is charged to '?'."""
    out: dict[str, float] = {}
    for pc, spent in cycles_by_pc.items():
        i = bisect.bisect_right(starts, pc & ~1) - 1
        name = names[i] if i >= 0 else "?"
        out[name] = out.get(name, 0.0) + spent
    return out


def profile(image: Path, per_transfer: int, rounds: int = bench.ROUNDS) -> dict[int, float]:
    """Mean cycles per echo round at each instruction address, on a freshly booted board."""
    previous = os.environ.get(PROFILE_ENV)
    os.environ[PROFILE_ENV] = "1"
    try:
        with EmulatorLink(image) as link:
            bench.configure(link)
            bench.set_midi_mode(link, c.MidiMode.ECHO)
            run = bench.midi_echo(link, per_transfer)
            run(-1)
            before = {int(k): int(v) for k, v in link.info()["cycles_by_pc"].items()}
            for n in range(rounds):
                run(n)
            after = {int(k): int(v) for k, v in link.info()["cycles_by_pc"].items()}
    finally:
        if previous is None:
            os.environ.pop(PROFILE_ENV, None)
        else:
            os.environ[PROFILE_ENV] = previous
    return {pc: (n - before.get(pc, 0)) / rounds for pc, n in after.items() if n != before.get(pc, 0)}


def main(argv: list[str]) -> int:
    """Print cycles per echo round by function, largest first."""
    per_transfer = int(argv[0]) if argv else 1
    if not 1 <= per_transfer <= 16:
        print("messages per transfer: 1..16", file=sys.stderr)
        return 2
    if not bench.IMAGE.is_file() or not ELF.is_file():
        print(f"{bench.IMAGE} / {ELF} not built (run `make firmware`)", file=sys.stderr)
        return 1
    by_function = charge(profile(bench.IMAGE, per_transfer), *functions(ELF))
    print(f"cycles per echo of {per_transfer} message(s) in one transfer: {sum(by_function.values()):.1f}")
    for name, spent in sorted(by_function.items(), key=lambda kv: -kv[1]):
        print(f"{spent:8.1f}  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
