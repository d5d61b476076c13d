"""The loopback board's OS MIDI ports: the rig's USB-MIDI class driver (rig.os_midi.class_driver) bound
to the board, the same "OS driver" the emulator target uses.

The loopback used to model its OS side inside the board (messages fed straight into the MIDI engine).
Through the class driver the OS side reaches the board the way a real OS driver reaches a real board:
USB-MIDI packets on EP_MIDI_OUT (with the board's NAK backpressure) and EP_MIDI_IN (SOURCE output
included), so the loopback is at least as faithful and there is one OS driver to get right.

The MIDI system helpers live in rig.os_midi.system and are re-exported here for older imports.
"""

from __future__ import annotations

from rig.loopback.twin import LoopbackBoard
from rig.os_midi.class_driver import UsbMidiClassDriver
from rig.os_midi.system import OsMidiUnavailable, jack_compiled, os_midi_api


class OsMidiPorts(UsbMidiClassDriver):
    """The class driver bound to `board`: hosts send to `input_name`, listen on `output_name`; the board
    reports it as the kernel driver of its MIDI interfaces until close()."""

    def __init__(self, board: LoopbackBoard, api: int | None = None) -> None:
        chosen = api if api is not None else os_midi_api()
        if chosen is None:
            raise OsMidiUnavailable("no MIDI system for virtual ports: no ALSA sequencer (/dev/snd/seq) "
                                    "and no JACK server (start one with rig.os_midi.jack.JackServer)")
        super().__init__(board, chosen, label="loopback", tag=board.serial_number[-6:])
        self._board = board
        board.attach_os_driver(self)

    def close(self) -> None:
        """Unregister from the board, stop the driver's threads and delete its ports; safe to call twice."""
        self._board.attach_os_driver(None)
        super().close()


__all__ = ["OsMidiPorts", "OsMidiUnavailable", "jack_compiled", "os_midi_api"]
