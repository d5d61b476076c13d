"""`python -m tests.differential --seed N --ops 10000`: run seeded sequences on the loopback and the
emulator, shrink the first divergence and print it as Python pyusb calls (exit status 1)."""

from __future__ import annotations

import argparse
import sys
import time

from tests.differential.session import open_pair, replay, run_seed


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, run, report."""
    parser = argparse.ArgumentParser(prog="python -m tests.differential", description=__doc__)
    parser.add_argument("--seed", type=int, default=1, help="first seed (default 1)")
    parser.add_argument("--seeds", type=int, default=1, help="how many consecutive seeds (default 1)")
    parser.add_argument("--ops", type=int, default=10_000, help="operations per seed (default 10000)")
    parser.add_argument("--no-shrink", action="store_true", help="print the divergent prefix unshrunk")
    args = parser.parse_args(argv)
    status = 0
    with open_pair() as pair:
        for seed in range(args.seed, args.seed + args.seeds):
            start = time.monotonic()
            result = run_seed(pair, seed, args.ops, minimise=not args.no_shrink)
            took = time.monotonic() - start
            if result is None:
                print(f"seed {seed}: {args.ops} ops, no divergence ({took:.1f} s)")
                continue
            ops, divergence = result
            status = 1
            print(f"seed {seed}: divergence ({took:.1f} s), minimal sequence of {len(ops)} ops:")
            print(replay(ops, divergence, pair.names))
    return status


if __name__ == "__main__":
    sys.exit(main())
