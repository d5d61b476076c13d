"""The board's MIDI engine: what ECHO / TRANSFORM / SOURCE / SINK do to USB-MIDI 1.0 event packets,
and the conversion between MIDI 1.0 messages and event packets for the OS-port side.

The USB endpoints and the OS MIDI ports run packets through the same engine, so both paths behave
as the firmware does.
"""

from __future__ import annotations

from dataclasses import dataclass

from rig import contract as c

PACKET_SIZE = 4
NOTE_CINS = frozenset((0x8, 0x9, 0xA))
"""Code index numbers whose second MIDI byte is a note number (note off, note on, poly pressure)."""
CIN_LENGTH = {0x2: 2, 0x3: 3, 0x4: 3, 0x5: 1, 0x6: 2, 0x7: 3, 0x8: 3, 0x9: 3, 0xA: 3, 0xB: 3, 0xC: 2,
              0xD: 2, 0xE: 3, 0xF: 1}
"""MIDI bytes a packet carries, by CIN (USB-MIDI 1.0 table 4-1); CIN 0 and 1 are reserved."""


class MidiMessageError(ValueError):
    """A MIDI 1.0 message could not be turned into event packets (the message says why)."""


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
    return packet[0] & 0x0F == 0


def is_bad(packet: bytes | memoryview) -> bool:
    """Reserved CIN 1, or a cable number the board does not have."""
    return packet[0] & 0x0F == 0x1 or packet[0] >> 4 >= c.MIDI_CABLES


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


def message_to_packets(message: bytes | list[int], cable: int = 0) -> list[bytes]:
    """One complete MIDI 1.0 message (as python-rtmidi delivers it) as USB-MIDI event packets."""
    msg = bytes(message)
    if not msg or msg[0] < 0x80:
        found = msg[:1].hex() or "nothing"
        raise MidiMessageError(f"MIDI message must start with a status byte, got {found}")
    head = (cable & 0xF) << 4
    status = msg[0]
    if status == 0xF0:
        if msg[-1] != 0xF7:
            raise MidiMessageError(f"SysEx of {len(msg)} bytes does not end with F7")
        out = []
        for start in range(0, len(msg), 3):
            chunk = msg[start:start + 3]
            last = start + 3 >= len(msg)
            cin = 0x4 + len(chunk) if last else 0x4
            out.append(bytes((head | cin,)) + chunk + bytes(3 - len(chunk)))
        return out
    if status < 0xF0:
        cin = status >> 4
    elif status in (0xF1, 0xF3):
        cin = 0x2
    elif status == 0xF2:
        cin = 0x3
    elif status >= 0xF8 or status == 0xF6:
        cin = 0xF if status >= 0xF8 else 0x5
    else:
        raise MidiMessageError(f"status 0x{status:02X} is undefined or a stray F7")
    length = CIN_LENGTH[cin]
    if len(msg) != length:
        raise MidiMessageError(f"status 0x{status:02X} takes {length} bytes, message has {len(msg)}")
    return [bytes((head | cin,)) + msg + bytes(3 - length)]


class PacketsToMessages:
    """Reassembles MIDI 1.0 messages (SysEx across packets included) from event packets."""

    def __init__(self) -> None:
        self._sysex = bytearray()

    def feed(self, packet: bytes) -> bytes | None:
        """Add one packet; returns a complete message when one ends with it."""
        cin = packet[0] & 0x0F
        if cin not in CIN_LENGTH:
            return None
        data = packet[1:1 + CIN_LENGTH[cin]]
        ends_sysex = cin in (0x5, 0x6, 0x7) and (bool(self._sysex) or data[0] == 0xF0)
        if cin == 0x4 or ends_sysex:
            self._sysex += data
            if cin == 0x4:
                return None
            message = bytes(self._sysex)
            self._sysex.clear()
            return message
        return bytes(data)
