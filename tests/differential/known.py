"""Known open divergences (issue #15's numbered items), allow-listed explicitly so CI stays honest:
the generator does not draw an op that triggers an open item, and test_known_still_diverge replays
each item's reproducer to show it is still open. Fixing an item means deleting its entry here (the
reproducer test then fails until you do), so this list only shrinks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.differential.ops import Op


@dataclass(frozen=True)
class Known:
    """One open item: what differs, who fixes it, which ops trigger it, and a sequence that shows it."""

    item: str
    summary: str
    owner: str
    triggers: Callable[[Op], bool]
    reproducer: tuple[Op, ...]


KNOWN: tuple[Known, ...] = ()
"""Empty: every item seen so far is fixed. Add an entry (with its issue item number) for a divergence
that cannot be fixed at once, so CI stays green only by saying so."""


def open_trigger(op: Op) -> Known | None:
    """The open item `op` triggers, if any."""
    return next((known for known in KNOWN if known.triggers(op)), None)
