"""Runs every benchmark module in bench/ (`make bench`): each prints its figures and a ratio
against a baseline measured in the same run, and exits non-zero when a goal is missed."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    wanted = set(argv)
    failed: list[str] = []
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_") or (wanted and info.name not in wanted):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        print(f"== {info.name}: {(module.__doc__ or '').strip().splitlines()[0]}")
        if not module.main():
            failed.append(info.name)
    if failed:
        print(f"goals missed: {', '.join(failed)}")
        return 1
    print("all benchmark goals met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
