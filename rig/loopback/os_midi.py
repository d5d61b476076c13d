"""The loopback board's MIDI side as OS MIDI ports: a python-rtmidi virtual input and output
(ALSA sequencer when there is one, else a JACK server) wired to the board's MIDI engine.

Input is polled from a thread of our own, never handled in a python-rtmidi callback: on JACK a
callback runs inside JACK's process cycle and must take the GIL, and a cycle it overruns is a cycle
whose MIDI events JACK never delivers (measured: tens of notes lost per 2000-note flood with a
256-frame period). Polled, the cycle only copies events into RtMidi's queue (QUEUE_LIMIT deep), so
the board sees every message whatever the server's period.
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

from rig.errors import TargetError
from rig.jack import server_running
from rig.loopback.board import LoopbackBoard

QUEUE_LIMIT = 1 << 16
"""Messages RtMidi's input queue holds until the pump thread takes them."""
POLL_INTERVAL_S = 0.0005
"""How long the pump thread sleeps when the input queue is empty."""
_instances = itertools.count(1)


class OsMidiUnavailable(TargetError):
    """No MIDI system python-rtmidi can open virtual ports on (no ALSA sequencer, no JACK server)."""


def jack_compiled() -> bool:
    """True when python-rtmidi is installed with its JACK API."""
    try:
        import rtmidi
    except ImportError:
        return False
    return rtmidi.API_UNIX_JACK in rtmidi.get_compiled_api()


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
        self.client = f"rig-loopback-{tag}-{os.getpid()}-{next(_instances)}"
        """Unique per port pair: JACK renames a second client of the same name ("-01"), and ports looked
        up by the first name would then reach another board's ports."""
        self.messages_received = 0
        """Messages taken from the virtual input and handed to the board."""
        self._board = board
        self._in: Any = rtmidi.MidiIn(rtapi=chosen, name=f"{self.client}-in", queue_size_limit=QUEUE_LIMIT)
        self._out: Any = rtmidi.MidiOut(rtapi=chosen, name=f"{self.client}-out")
        try:
            self._in.ignore_types(sysex=False, timing=False, active_sense=False)
            self._in.open_virtual_port("rig MIDI in")
            self._out.open_virtual_port("rig MIDI out")
        except BaseException:
            self._delete()
            raise
        self.api = chosen
        self.input_name = f"{self.client}-in:rig MIDI in"
        self.output_name = f"{self.client}-out:rig MIDI out"
        board.attach_os_midi(self._send)
        self._stop = threading.Event()
        self._pump_thread = threading.Thread(target=self._pump, name=f"loopback os-midi {tag}", daemon=True)
        self._pump_thread.start()

    def port_names(self) -> tuple[str, str]:
        """(port a host sends to, port a host listens on), as substrings of rtmidi's port names."""
        return self.input_name, self.output_name

    def _pump(self) -> None:
        """Hand every message from the virtual input to the board until close()."""
        get_message = self._in.get_message
        stop = self._stop
        while not stop.is_set():
            event = get_message()
            if event is None:
                stop.wait(POLL_INTERVAL_S)
                continue
            self.messages_received += 1
            self._board.midi_from_os(bytes(event[0]))

    def _send(self, message: bytes) -> None:
        self._out.send_message(list(message))

    def _delete(self) -> None:
        for port in (self._in, self._out):
            try:
                port.close_port()
            finally:
                port.delete()

    def close(self) -> None:
        """Stop the pump, detach from the board and delete both virtual ports; safe to call twice."""
        if self._in is None:
            return
        self._stop.set()
        self._pump_thread.join(timeout=5)
        self._board.detach_os_midi()
        self._delete()
        self._in = self._out = None
