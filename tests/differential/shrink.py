"""Delta debugging (Zeller's ddmin) over an op list: the smallest sequence found that still diverges."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from tests.differential.ops import Op


def shrink(ops: Sequence[Op], diverges: Callable[[list[Op]], bool]) -> list[Op]:
    """A 1-minimal sub-sequence of `ops` for which `diverges` holds (removing any one op loses it).
    `diverges(list(ops))` is assumed to hold; it is asked about subsets, then complements."""
    current = list(ops)
    chunks = 2
    while len(current) >= 2:
        size = -(-len(current) // chunks)
        parts = [current[i:i + size] for i in range(0, len(current), size)]
        subset = next((part for part in parts if diverges(part)), None)
        if subset is not None:
            current, chunks = subset, 2
            continue
        complements = ([op for j, part in enumerate(parts) if j != i for op in part]
                       for i in range(len(parts)))
        complement = next((rest for rest in complements if diverges(rest)), None)
        if complement is not None:
            current, chunks = complement, max(chunks - 1, 2)
            continue
        if chunks >= len(current):
            break
        chunks = min(chunks * 2, len(current))
    return current
