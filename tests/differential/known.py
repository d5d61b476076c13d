"""Known open divergences (issue #15's numbered items), allow-listed explicitly so CI stays honest:
the generator does not draw an op that triggers an open item, and test_known_still_diverge replays
each item's reproducer to show it is still open. Fixing an item means deleting its entry here (the
reproducer test then fails until you do), so this list only shrinks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rig import contract as c
from tests.differential.ops import Op


@dataclass(frozen=True)
class Known:
    """One open item: what differs, who fixes it, which ops trigger it, and a sequence that shows it."""

    item: str
    summary: str
    owner: str
    triggers: Callable[[Op], bool]
    reproducer: tuple[Op, ...]


def _midi_in_read(op: Op) -> bool:
    return op.kind == "read" and op.args[0] == c.EP_MIDI_IN


KNOWN: tuple[Known, ...] = (
    Known("10", "EP_MIDI_IN packets: E arms a packet from what is queued when the endpoint is idle (one OUT "
          "packet's replies, a ZLP after a full last packet: items 7, 19 too); L answers a read with "
          "everything queued that fits, and read(0) overflows at once", "h-diff (twin midi.py)",
          _midi_in_read,
          (Op("write", (c.EP_MIDI_OUT, bytes((9, 0x90, 60, 1)), 100)),
           Op("write", (c.EP_MIDI_OUT, bytes((9, 0x90, 61, 1)), 100)), Op("read", (c.EP_MIDI_IN, 64, 100)))),
)
"""Open items. A twin packet model for 7/10/19 was written and reverted: it passed every differential
seed but lost OS MIDI events through the class driver (tests/conformance/test_midi_os.py)."""


def open_trigger(op: Op) -> Known | None:
    """The open item `op` triggers, if any."""
    return next((known for known in KNOWN if known.triggers(op)), None)
