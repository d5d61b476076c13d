"""python-rtmidi ports that keep a Board's books: every message sent through `CountedOut` adds its
USB-MIDI packets to `board.host.midi_packets_tx`, every message taken from `CountedIn` (get_message
or a callback) to `midi_packets_rx`. The pytest plugin's `midi_ports` fixture hands these out when
the test also uses `board`, so a test that sends and receives through the OS ports directly ends
with the books balanced, as one through OsMidiMiniport does (which unwraps them and counts once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from host.midi import encode_message
from rig.client.board import Board
from rig.miniport.usb_midi import PACKET


def usb_midi_packets(message: bytes | Sequence[int]) -> int:
    """USB-MIDI event packets a MIDI message takes on the wire (what a device counts); 0 for bytes that
    are not a message (they have no USB-MIDI form)."""
    try:
        return len(encode_message(bytes(message))) // PACKET
    except ValueError:
        return 0


class CountedOut:
    """An rtmidi MidiOut whose sends are counted into `board`; every other attribute is the port's."""

    def __init__(self, port: Any, board: Board) -> None:
        self.port = port
        self.board = board

    def send_message(self, message: Sequence[int]) -> None:
        """Send, then count the packets (a send that raises counts nothing)."""
        self.port.send_message(message)
        self.board.host.midi_packets_tx += usb_midi_packets(message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)


class CountedIn:
    """An rtmidi MidiIn whose received messages are counted into `board` as the test takes them."""

    def __init__(self, port: Any, board: Board) -> None:
        self.port = port
        self.board = board

    def _count(self, event: tuple[list[int], float] | None) -> None:
        if event is not None and event[0]:
            self.board.host.midi_packets_rx += usb_midi_packets(event[0])

    def get_message(self) -> tuple[list[int], float] | None:
        """The next queued message (counted), or None."""
        event: tuple[list[int], float] | None = self.port.get_message()
        self._count(event)
        return event

    def set_callback(self, func: Callable[..., object], data: object = None) -> None:
        """Install `func`, counting each message before it is called."""
        def counted(event: tuple[list[int], float], user: object = None) -> None:
            self._count(event)
            func(event, user)

        self.port.set_callback(counted, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.port, name)


def uncounted(port: Any) -> Any:
    """The rtmidi port inside a CountedOut/CountedIn (for code that keeps the books itself)."""
    return port.port if isinstance(port, CountedOut | CountedIn) else port
