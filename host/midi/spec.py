"""The MIDI 1.0 wire format as a data table: status byte -> message name and total length.

One table that the parser, the encoder and the USB-MIDI codec all derive their lookups from, in
the manner of mido's `messages/specs.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from host.midi.errors import MidiValueError

SYSEX_LENGTH = 0
"""`message_length` of SysEx (F0): variable, ended by F7."""


@dataclass(frozen=True, slots=True)
class MessageSpec:
    """One kind of message: its status byte (channel 0 for channel messages) and its wire shape."""

    status: int
    name: str
    length: int
    """Total bytes including the status byte; SYSEX_LENGTH (0) for SysEx, which is variable."""
    data_names: tuple[str, ...]
    """What each data byte holds, in order (documentation and error messages)."""

    @property
    def is_channel(self) -> bool:
        """True for channel voice/mode messages (80-EF), which carry a channel in the low nibble."""
        return self.status < 0xF0


CHANNEL_SPECS: tuple[MessageSpec, ...] = (
    MessageSpec(0x80, "note_off", 3, ("note", "velocity")),
    MessageSpec(0x90, "note_on", 3, ("note", "velocity")),
    MessageSpec(0xA0, "poly_pressure", 3, ("note", "pressure")),
    MessageSpec(0xB0, "control_change", 3, ("control", "value")),
    MessageSpec(0xC0, "program_change", 2, ("program",)),
    MessageSpec(0xD0, "channel_pressure", 2, ("pressure",)),
    MessageSpec(0xE0, "pitch_bend", 3, ("lsb", "msb")),
)
"""Channel messages, one per high nibble 8..E."""

SYSTEM_SPECS: tuple[MessageSpec, ...] = (
    MessageSpec(0xF0, "sysex", SYSEX_LENGTH, ()),
    MessageSpec(0xF1, "mtc_quarter_frame", 2, ("type_value",)),
    MessageSpec(0xF2, "song_position", 3, ("lsb", "msb")),
    MessageSpec(0xF3, "song_select", 2, ("song",)),
    MessageSpec(0xF6, "tune_request", 1, ()),
    MessageSpec(0xF8, "clock", 1, ()),
    MessageSpec(0xFA, "start", 1, ()),
    MessageSpec(0xFB, "continue", 1, ()),
    MessageSpec(0xFC, "stop", 1, ()),
    MessageSpec(0xFE, "active_sensing", 1, ()),
    MessageSpec(0xFF, "reset", 1, ()),
)
"""System common, SysEx and real-time messages. F4, F5, F9 and FD are undefined; F7 only ends SysEx."""

UNDEFINED_STATUSES = frozenset((0xF4, 0xF5, 0xF9, 0xFD))
"""Status bytes MIDI 1.0 leaves undefined: receivers ignore them."""
EOX = 0xF7
"""End of exclusive: ends a SysEx, never starts a message."""
SYSEX = 0xF0
REALTIME_STATUSES = frozenset(s.status for s in SYSTEM_SPECS if s.status >= 0xF8)
"""Real-time messages (F8-FF, less the undefined): single bytes allowed anywhere, even inside others."""


def _build_by_status() -> tuple[MessageSpec | None, ...]:
    table: list[MessageSpec | None] = [None] * 256
    for spec in CHANNEL_SPECS:
        for channel in range(16):
            table[spec.status | channel] = spec
    for spec in SYSTEM_SPECS:
        table[spec.status] = spec
    return tuple(table)


SPEC_BY_STATUS: tuple[MessageSpec | None, ...] = _build_by_status()
"""Indexed by any byte 0..255: the spec of the message that status byte starts, or None."""

LENGTH_BY_STATUS: tuple[int, ...] = tuple(-1 if s is None else s.length for s in SPEC_BY_STATUS)
"""Indexed by any byte: total length of the message it starts, 0 for SysEx, -1 if it starts none."""

SPEC_BY_NAME: dict[str, MessageSpec] = {s.name: s for s in (*CHANNEL_SPECS, *SYSTEM_SPECS)}


def message_length(status: int) -> int:
    """Total bytes (status included) of the message `status` starts; 0 (SYSEX_LENGTH) for SysEx.

    Raises MidiValueError for a data byte, F7 and the undefined status bytes, which start no message.
    """
    if type(status) is not int or not 0 <= status <= 0xFF:
        raise MidiValueError(f"status must be a byte 0x80..0xFF, got {status!r}")
    length = LENGTH_BY_STATUS[status]
    if length < 0:
        if status < 0x80:
            why = "is a data byte, not a status byte"
        elif status == EOX:
            why = "(end of exclusive) only ends a SysEx"
        else:
            why = "is undefined in MIDI 1.0"
        raise MidiValueError(f"status 0x{status:02X} {why}; it starts no message")
    return length


def kind_name(status: int) -> str:
    """The message name for a status byte ("note_on", "sysex", ...), or "undefined"."""
    spec = SPEC_BY_STATUS[status] if 0 <= status <= 0xFF else None
    return "undefined" if spec is None else spec.name
