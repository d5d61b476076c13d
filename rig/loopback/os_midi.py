"""The loopback board's MIDI side as OS MIDI ports: a python-rtmidi virtual input and output
(ALSA sequencer when there is one, else a running JACK server) wired to the board's MIDI engine.
"""

from __future__ import annotations

import os
from typing import Any

from rig.errors import TargetError
from rig.jack import server_running
from rig.loopback.board import LoopbackBoard


class OsMidiUnavailable(TargetError):
    """No MIDI system python-rtmidi can open virtual ports on (no ALSA sequencer, no JACK server)."""


def os_midi_api() -> int | None:
    """The rtmidi API to open virtual ports with here, or None when there is no MIDI system."""
    try:
        import rtmidi
    except ImportError:
        return None
    compiled = rtmidi.get_compiled_api()
    if rtmidi.API_LINUX_ALSA in compiled and os.access("/dev/snd/seq", os.R_OK | os.W_OK):
        return int(rtmidi.API_LINUX_ALSA)
    if rtmidi.API_MACOSX_CORE in compiled:
        return int(rtmidi.API_MACOSX_CORE)
    if rtmidi.API_UNIX_JACK in compiled and server_running():
        return int(rtmidi.API_UNIX_JACK)
    return None


class OsMidiPorts:
    """Virtual ports named after the board: hosts send to `input_name`, listen on `output_name`."""

    def __init__(self, board: LoopbackBoard, api: int | None = None) -> None:
        import rtmidi

        chosen = api if api is not None else os_midi_api()
        if chosen is None:
            raise OsMidiUnavailable("no MIDI system for virtual ports: no ALSA sequencer (/dev/snd/seq) "
                                    "and no JACK server (start one with rig.jack.JackServer)")
        tag = board.serial_number[-6:]
        self.client = f"rig-loopback-{tag}"
        self._board = board
        self._in: Any = rtmidi.MidiIn(rtapi=chosen, name=f"{self.client}-in")
        self._out: Any = rtmidi.MidiOut(rtapi=chosen, name=f"{self.client}-out")
        try:
            self._in.ignore_types(sysex=False, timing=False, active_sense=False)
            self._in.open_virtual_port("rig MIDI in")
            self._out.open_virtual_port("rig MIDI out")
        except BaseException:
            self._delete()
            raise
        self.input_name = f"{self.client}-in:rig MIDI in"
        self.output_name = f"{self.client}-out:rig MIDI out"
        board.attach_os_midi(self._send)
        self._in.set_callback(self._received)

    def port_names(self) -> tuple[str, str]:
        """(port a host sends to, port a host listens on), as substrings of rtmidi's port names."""
        return self.input_name, self.output_name

    def _received(self, event: tuple[list[int], float], data: object = None) -> None:
        message, _delta = event
        self._board.midi_from_os(bytes(message))

    def _send(self, message: bytes) -> None:
        self._out.send_message(list(message))

    def _delete(self) -> None:
        for port in (self._in, self._out):
            try:
                port.close_port()
            finally:
                port.delete()

    def close(self) -> None:
        """Detach from the board and delete both virtual ports; safe to call twice."""
        if self._in is None:
            return
        self._board.detach_os_midi()
        self._in.cancel_callback()
        self._delete()
        self._in = self._out = None
