"""Pure MIDI 1.0 and USB-MIDI 1.0 codecs: byte-stream parser, message encoders, event packets.

No I/O and no threads; everything the rig's MIDI paths build on.
"""

from __future__ import annotations

from host.midi import encode as _encode
from host.midi import usbmidi as _usbmidi
from host.midi.encode import *  # noqa: F403  (its __all__: the message builders, listed once there)
from host.midi.errors import MidiError, MidiValueError, UsbMidiPacketError
from host.midi.spec import SPEC_BY_STATUS, MessageSpec, kind_name, message_length
from host.midi.stream import MidiMessage, MidiStreamParser, ParserCounters, parse
from host.midi.usbmidi import *  # noqa: F403  (its __all__: the USB-MIDI packet codec, listed once there)

__all__ = [
    *_encode.__all__,
    *_usbmidi.__all__,
    "SPEC_BY_STATUS",
    "MessageSpec",
    "MidiError",
    "MidiMessage",
    "MidiStreamParser",
    "MidiValueError",
    "ParserCounters",
    "UsbMidiPacketError",
    "kind_name",
    "message_length",
    "parse",
]
