"""The board's MIDI engine: what ECHO / TRANSFORM / SOURCE / SINK do to USB-MIDI 1.0 event packets.

The USB endpoints and the OS MIDI ports run packets through the same engine, so both paths behave
as the firmware does. Converting MIDI messages to and from packets (the OS-port side) is host.midi's
job (encode_message, UsbMidiDecoder): there is one codec.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.midi.usbmidi import CIN_CABLE_EVENT, CIN_MISC, PACKET_SIZE
from rig import contract as c

NOTE_CINS = frozenset((0x8, 0x9, 0xA))
"""Code index numbers whose second MIDI byte is a note number (note off, note on, poly pressure)."""


@dataclass
class MidiConfig:
    """The MidiModeConfig the host set (defaults: ECHO, cable 0)."""

    mode: c.MidiMode = c.MidiMode.ECHO
    cable: int = 0
    transpose: int = 0
    rate_hz: int = 0
    count: int = 0

    def pack(self) -> bytes:
        """As GET_MIDI_MODE returns it."""
        return c.MIDI_MODE_CONFIG.pack(mode=int(self.mode), cable=self.cable, transpose=self.transpose,
                                       rate_hz=self.rate_hz, count=self.count)

    @classmethod
    def unpack(cls, data: bytes) -> MidiConfig:
        """From a SET_MIDI_MODE data stage; ValueError names a field out of range."""
        v = c.MIDI_MODE_CONFIG.unpack(data)
        fields = {k: int(x) for k, x in v.items() if isinstance(x, int)}
        mode = c.MidiMode(fields["mode"])  # ValueError for an unknown mode
        if fields["reserved"]:
            raise ValueError(f"reserved is {fields['reserved']}, expected 0")
        if fields["cable"] >= c.MIDI_CABLES:
            raise ValueError(f"cable {fields['cable']} out of range (board has {c.MIDI_CABLES})")
        if mode is c.MidiMode.SOURCE and not 1 <= fields["rate_hz"] <= 100_000:
            raise ValueError(f"SOURCE rate_hz {fields['rate_hz']} not in 1..100000")
        return cls(mode, fields["cable"], fields["transpose"], fields["rate_hz"], fields["count"])


def is_padding(packet: bytes | memoryview) -> bool:
    """CIN 0 packets pad a transfer and are not events."""
    return packet[0] & 0x0F == CIN_MISC


def is_bad(packet: bytes | memoryview) -> bool:
    """Reserved CIN 1, or a cable number the board does not have."""
    return packet[0] & 0x0F == CIN_CABLE_EVENT or packet[0] >> 4 >= c.MIDI_CABLES


def respond(config: MidiConfig, packet: bytes) -> bytes | None:
    """The packet the board sends back for one good received packet, or None (SOURCE, SINK)."""
    if config.mode is c.MidiMode.ECHO:
        return packet
    if config.mode is c.MidiMode.TRANSFORM:
        if packet[0] & 0x0F in NOTE_CINS:
            return bytes((packet[0], packet[1], (packet[2] + config.transpose) % 128, packet[3]))
        return packet
    return None


def source_pair(cable: int, seq: int) -> tuple[bytes, bytes]:
    """SOURCE's note-on / note-off packets for sequence number `seq` (channel 1, note-off velocity 0)."""
    note = seq & 0x7F
    velocity = 1 + ((seq >> 7) % 127)
    head = cable << 4
    return bytes((head | 0x9, 0x90, note, velocity)), bytes((head | 0x8, 0x80, note, 0))


def source_seq(packet: bytes) -> int | None:
    """Inverse of source_pair for a note-on (seq modulo 127 * 128), or None for anything else."""
    if packet[0] & 0x0F != 0x9:
        return None
    return ((packet[3] - 1) << 7) | packet[2]


__all__ = ["NOTE_CINS", "PACKET_SIZE", "MidiConfig", "is_bad", "is_padding", "respond", "source_pair",
           "source_seq"]
