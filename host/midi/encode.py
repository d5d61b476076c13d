"""MIDI 1.0 message builders with range checks, and `encode_stream` (optionally with running status).

Every builder returns the message's complete bytes; out-of-range arguments raise MidiValueError
naming the argument and the value. Channels are 0..15 (shown to people as 1..16).
"""

from __future__ import annotations

from collections.abc import Iterable

from host.midi.errors import MidiValueError, check_range
from host.midi.spec import EOX, LENGTH_BY_STATUS, SYSEX

PITCH_BEND_MIN = -8192
PITCH_BEND_MAX = 8191
"""pitch_bend takes a signed value: -8192 (down) .. 0 (centre) .. 8191 (up), as mido does."""


def _channel_3(base: int, name1: str, name2: str, channel: int, a: int, b: int) -> bytes:
    if (type(channel) is int and type(a) is int and type(b) is int
            and 0 <= channel <= 15 and 0 <= a <= 127 and 0 <= b <= 127):
        return bytes((base | channel, a, b))
    return bytes((base | check_range("channel", channel, 0, 15), check_range(name1, a, 0, 127),
                  check_range(name2, b, 0, 127)))


def _channel_2(base: int, name: str, channel: int, a: int) -> bytes:
    if type(channel) is int and type(a) is int and 0 <= channel <= 15 and 0 <= a <= 127:
        return bytes((base | channel, a))
    return bytes((base | check_range("channel", channel, 0, 15), check_range(name, a, 0, 127)))


def note_off(channel: int, note: int, velocity: int = 64) -> bytes:
    """Note Off (8n): channel 0..15, note 0..127, release velocity 0..127."""
    return _channel_3(0x80, "note", "velocity", channel, note, velocity)


def note_on(channel: int, note: int, velocity: int) -> bytes:
    """Note On (9n): channel 0..15, note 0..127, velocity 0..127 (0 means note off by convention)."""
    return _channel_3(0x90, "note", "velocity", channel, note, velocity)


def poly_pressure(channel: int, note: int, pressure: int) -> bytes:
    """Polyphonic key pressure (An): channel 0..15, note 0..127, pressure 0..127."""
    return _channel_3(0xA0, "note", "pressure", channel, note, pressure)


def control_change(channel: int, control: int, value: int) -> bytes:
    """Control Change (Bn), channel mode messages included: control 0..127, value 0..127."""
    return _channel_3(0xB0, "control", "value", channel, control, value)


def program_change(channel: int, program: int) -> bytes:
    """Program Change (Cn): channel 0..15, program 0..127."""
    return _channel_2(0xC0, "program", channel, program)


def channel_pressure(channel: int, pressure: int) -> bytes:
    """Channel pressure / aftertouch (Dn): channel 0..15, pressure 0..127."""
    return _channel_2(0xD0, "pressure", channel, pressure)


def pitch_bend(channel: int, value: int) -> bytes:
    """Pitch Bend (En): signed value -8192..8191, 0 is centre (wire value = value + 8192, LSB first)."""
    status = 0xE0 | check_range("channel", channel, 0, 15)
    raw = check_range("value", value, PITCH_BEND_MIN, PITCH_BEND_MAX) + 8192
    return bytes((status, raw & 0x7F, raw >> 7))


def pitch_bend_value(message: bytes) -> int:
    """The signed -8192..8191 value of a Pitch Bend message's bytes (inverse of pitch_bend)."""
    if len(message) != 3 or message[0] & 0xF0 != 0xE0:
        raise MidiValueError(f"message is not a 3-byte pitch bend: {bytes(message).hex()}")
    return (message[1] | message[2] << 7) - 8192


def sysex(payload: bytes | bytearray | memoryview | Iterable[int]) -> bytes:
    """System Exclusive: F0 + payload + F7; every payload byte must be 0..127 (payload may be empty)."""
    try:
        body = bytes(payload)
    except (TypeError, ValueError) as exc:
        raise MidiValueError(f"payload must be bytes or ints 0..127, got {payload!r:.60}: {exc}") from None
    if not body.isascii():
        bad = next(i for i, b in enumerate(body) if b >= 0x80)
        raise MidiValueError(f"payload byte {bad} is 0x{body[bad]:02X}; SysEx data bytes must be 0..127")
    return b"\xf0" + body + b"\xf7"


def mtc_quarter_frame(frame_type: int, value: int) -> bytes:
    """MTC Quarter Frame (F1): message type 0..7 (which time field nibble), value 0..15."""
    high = check_range("frame_type", frame_type, 0, 7) << 4
    return bytes((0xF1, high | check_range("value", value, 0, 15)))


def song_position(beats: int) -> bytes:
    """Song Position Pointer (F2): position in MIDI beats (sixteenth notes) 0..16383, LSB first."""
    beats = check_range("beats", beats, 0, 16383)
    return bytes((0xF2, beats & 0x7F, beats >> 7))


def song_select(song: int) -> bytes:
    """Song Select (F3): song 0..127."""
    return bytes((0xF3, check_range("song", song, 0, 127)))


def tune_request() -> bytes:
    """Tune Request (F6)."""
    return b"\xf6"


def timing_clock() -> bytes:
    """Timing Clock (F8), 24 per quarter note; real-time."""
    return b"\xf8"


def start() -> bytes:
    """Start (FA); real-time."""
    return b"\xfa"


def continue_() -> bytes:
    """Continue (FB); real-time. Named with a trailing underscore because `continue` is a keyword."""
    return b"\xfb"


def stop() -> bytes:
    """Stop (FC); real-time."""
    return b"\xfc"


def active_sensing() -> bytes:
    """Active Sensing (FE); real-time."""
    return b"\xfe"


def system_reset() -> bytes:
    """System Reset (FF); real-time."""
    return b"\xff"


def check_message(message: bytes | bytearray | memoryview) -> bytes:
    """Return `message` as bytes if it is one complete, well-formed MIDI message, else raise
    MidiValueError saying what is wrong (status, length, or a status byte among the data). The one
    validator: encode_message's error path uses it too."""
    msg = bytes(message)
    if not msg:
        raise MidiValueError("message is empty: a MIDI message needs at least a status byte")
    status = msg[0]
    if status == SYSEX:
        if len(msg) < 2 or msg[-1] != EOX:
            raise MidiValueError(f"SysEx message must end with F7, got ...{msg[-4:].hex()} "
                                 f"({len(msg)} bytes)")
        if not msg[1:-1].isascii():
            bad = next(i for i, b in enumerate(msg[1:-1], 1) if b >= 0x80)
            raise MidiValueError(f"SysEx message has a status byte among its data bytes: 0x{msg[bad]:02X} at "
                                 f"offset {bad}; data must be < 0x80")
        return msg
    length = LENGTH_BY_STATUS[status]
    if length <= 0:
        raise MidiValueError(f"message starts with 0x{status:02X}, which starts no MIDI message: "
                             f"{msg[:8].hex()}")
    if len(msg) != length:
        raise MidiValueError(
            f"message with status 0x{status:02X} must be {length} bytes, got {len(msg)}: {msg.hex()}")
    if not msg[1:].isascii():
        raise MidiValueError(f"message has a status byte among its data bytes (a data byte >= 0x80): "
                             f"{msg[:16].hex()}")
    return msg


def encode_stream(
    messages: Iterable[bytes | bytearray | memoryview], *, running_status: bool = False
) -> bytes:
    """Concatenate complete messages into one MIDI byte stream, each checked by check_message.

    With `running_status`, a channel message whose status equals the last channel status sent
    omits its status byte; SysEx and system common messages cancel running status (the next
    channel message sends its status), real-time messages leave it in force.
    """
    out = bytearray()
    running = 0
    for index, message in enumerate(messages):
        try:
            msg = check_message(message)
        except MidiValueError as exc:
            raise MidiValueError(f"messages[{index}]: {exc}") from None
        status = msg[0]
        if running_status:
            if status < 0xF0:
                if status == running:
                    out += msg[1:]
                    continue
                running = status
            elif status < 0xF8:
                running = 0
        out += msg
    return bytes(out)


__all__ = [
    "PITCH_BEND_MAX",
    "PITCH_BEND_MIN",
    "active_sensing",
    "channel_pressure",
    "check_message",
    "continue_",
    "control_change",
    "encode_stream",
    "mtc_quarter_frame",
    "note_off",
    "note_on",
    "pitch_bend",
    "pitch_bend_value",
    "poly_pressure",
    "program_change",
    "song_position",
    "song_select",
    "start",
    "stop",
    "sysex",
    "system_reset",
    "timing_clock",
    "tune_request",
]
