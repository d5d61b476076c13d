"""Known open divergences (issue #15's numbered items), allow-listed explicitly so CI stays honest:
the generator does not draw an op that triggers an open item, and test_known_still_diverge replays
each item's reproducer to show it is still open. Fixing an item means deleting its entry here (the
reproducer test then fails until you do), so this list only shrinks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rig import contract as c
from rig.contract import frame_wire as frames
from tests.differential.ops import Op


@dataclass(frozen=True)
class Known:
    """One open item: what differs, who fixes it, which ops trigger it, and a sequence that shows it."""

    item: str
    summary: str
    owner: str
    triggers: Callable[[Op], bool]
    reproducer: tuple[Op, ...]


def _read_not_whole_packets(op: Op) -> bool:
    return op.kind == "read" and isinstance(op.args[1], int) and op.args[1] % c.BULK_PACKET_SIZE != 0


def _read_of_nothing(op: Op) -> bool:
    return op.kind == "read" and op.args[1] == 0


def _midi_in_read(op: Op) -> bool:
    return op.kind == "read" and op.args[0] == c.EP_MIDI_IN


KNOWN: tuple[Known, ...] = (
    Known("9", "reads whose length is not a multiple of 64: L returns the whole packets that fit or "
          "EOVERFLOW with nothing consumed, E an I/O error", "h-diff (twin, bridge.js)",
          _read_not_whole_packets,
          (Op("write", (c.EP_FRAME_OUT, frames.encode(bytes(24), 0), 100)),
           Op("read", (c.EP_FRAME_IN, 60, 100)))),
    Known("19", "read(EP_MIDI_IN, length 0) with nothing queued: L EOVERFLOW at once, E times out",
          "h-diff (twin midi.py)", _read_of_nothing, (Op("read", (c.EP_MIDI_IN, 0, 100)),)),
    Known("10", "EP_MIDI_IN packets: E forms a packet from what is queued when the endpoint is idle (one "
          "OUT packet's replies), L answers a read with everything queued that fits",
          "h-diff (twin midi.py)", _midi_in_read,
          (Op("write", (c.EP_MIDI_OUT, bytes((9, 0x90, 60, 1)), 100)),
           Op("write", (c.EP_MIDI_OUT, bytes((9, 0x90, 61, 1)), 100)), Op("read", (c.EP_MIDI_IN, 64, 100)))),
)


def open_trigger(op: Op) -> Known | None:
    """The open item `op` triggers, if any."""
    return next((known for known in KNOWN if known.triggers(op)), None)
