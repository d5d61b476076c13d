"""The host-side client of the board's contract: `Board` wraps any `usb.core.Device` (libusb, the
loopback backend or the emulator backend), so the same calls drive every target.

Every response is checked against `rig.contract`; every failure is an exception naming the board, the
transfer and what was wrong. The control, MIDI and frame sides live in their own modules; Board adds
the books check that spans them and closing.
"""

from __future__ import annotations

import contextlib

import usb.core
import usb.util

from rig.client.books import books_problems
from rig.client.frame_io import FrameIo
from rig.client.midi_io import MIDI_PACKET_SIZE, MidiIo, MidiOwner
from rig.client.responses import Stats


class Board(MidiIo, FrameIo):
    """One board (or loopback/emulated board) reached through pyusb; the contract's host side."""

    def unbalanced(self, stats: Stats | None = None, *, drain_ms: int = 0) -> list[str]:
        """Every way device counters disagree with the host's since `reset_stats` (empty: balanced).

        With `drain_ms`, first read whatever the device still has queued on the endpoints this Board
        used; anything found is itself a problem (the test left data behind), then counted as read."""
        problems: list[str] = []
        if drain_ms and self.frames_used:
            left = self.drain_frames(drain_ms)
            if left:
                problems.append(f"{len(left)} frame(s) still queued on EP_FRAME_IN at the end "
                                f"(seq {left[0].seq}..{left[-1].seq})")
        if drain_ms and self.midi_used and self._midi_owner is not MidiOwner.OS:
            left_midi = self.drain_midi(drain_ms)
            if left_midi:
                problems.append(f"{len(left_midi) // MIDI_PACKET_SIZE} MIDI packet(s) still queued on "
                                f"EP_MIDI_IN at the end")
        return problems + books_problems(stats if stats is not None else self.stats(), self.host)

    def close(self) -> None:
        """Give back the interfaces pyusb claimed and any OS driver detached for raw MIDI."""
        with contextlib.suppress(usb.core.USBError, NotImplementedError):
            usb.util.dispose_resources(self.device)
        for interface in self._detached:
            with contextlib.suppress(usb.core.USBError, NotImplementedError):
                self.device.attach_kernel_driver(interface)
        self._detached.clear()
        self._midi_owner = MidiOwner.UNDECIDED
