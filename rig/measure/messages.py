"""The test messages: short messages that alternate so running status cannot hide a byte, SysEx of a
chosen size, frame payloads, each carrying its sequence number (USB-MIDI packing: host.midi.usbmidi).

Short message n: note on (even n) or note off (odd n) on channel (n >> 1) & 1, note n & 0x7F,
velocity 1 + ((n >> 7) % 127). Consecutive messages never share a status byte, and a window of
up to 16,256 messages in flight maps back to sequence numbers without ambiguity.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from rig.errors import RigError

SYSEX_MIN_SIZE = 6
"""F0, manufacturer 0x7D (non-commercial), three 7-bit sequence bytes, F7."""
FRAME_MIN_PAYLOAD = 8
"""Frame payloads start with the 64-bit sequence number."""
SHORT_SEQ_WINDOW = 128 * 127
"""Short messages repeat after this many sequence numbers."""


class MessageError(RigError, ValueError):
    """A message size or kind that the measurement cannot generate (the message names it)."""


def short_message(seq: int) -> bytes:
    """Alternating note on / note off carrying `seq` in its data bytes."""
    status = (0x90 if seq % 2 == 0 else 0x80) | ((seq >> 1) & 1)
    return bytes((status, seq & 0x7F, 1 + ((seq >> 7) % 127)))


def sysex_message(seq: int, size: int) -> bytes:
    """SysEx of exactly `size` bytes: F0 7D, seq in three 7-bit bytes, varying filler, F7."""
    if size < SYSEX_MIN_SIZE:
        raise MessageError(f"SysEx size {size} is below the minimum of {SYSEX_MIN_SIZE} bytes")
    head = bytes((0xF0, 0x7D, seq & 0x7F, (seq >> 7) & 0x7F, (seq >> 14) & 0x7F))
    filler = bytes((seq + i) & 0x7F for i in range(size - SYSEX_MIN_SIZE))
    return head + filler + b"\xF7"


def frame_payload(seq: int, size: int) -> bytes:
    """A frame payload of `size` bytes: the 64-bit seq, then a pattern that varies with seq."""
    if size < FRAME_MIN_PAYLOAD:
        raise MessageError(f"frame payload size {size} is below the minimum of {FRAME_MIN_PAYLOAD} bytes")
    pattern = bytes((seq + i) & 0xFF for i in range(min(size - FRAME_MIN_PAYLOAD, 256)))
    body = (pattern * ((size - FRAME_MIN_PAYLOAD) // 256 + 1))[: size - FRAME_MIN_PAYLOAD] if pattern else b""
    return struct.pack("<Q", seq) + body


def maker(kind: str, size: int = 0) -> Callable[[int], bytes]:
    """The generator for "short", "sysex" (size = total bytes) or "frame" (size = payload bytes)."""
    if kind == "short":
        return short_message
    if kind == "sysex":
        sysex_message(0, size)  # validate now, not at the first send
        return lambda seq: sysex_message(seq, size)
    if kind == "frame":
        frame_payload(0, size)
        return lambda seq: frame_payload(seq, size)
    raise MessageError(f"unknown message kind {kind!r}; expected short, sysex or frame")
