"""The test messages: short messages that alternate so running status cannot hide a byte, SysEx of a
chosen size, frame payloads, each carrying its sequence number; and USB-MIDI 1.0 packing of them.

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


# --- USB-MIDI 1.0 event packets (section 4 of the USB-MIDI 1.0 class spec) ---------------------

_CIN_BY_STATUS = {0x80: 0x8, 0x90: 0x9, 0xA0: 0xA, 0xB0: 0xB, 0xC0: 0xC, 0xD0: 0xD, 0xE0: 0xE}
_DATA_LEN_BY_CIN = {0x2: 2, 0x3: 3, 0x4: 3, 0x5: 1, 0x6: 2, 0x7: 3, 0x8: 3, 0x9: 3, 0xA: 3, 0xB: 3,
                    0xC: 2, 0xD: 2, 0xE: 3, 0xF: 1}


def to_usb_midi(message: bytes, cable: int = 0) -> bytes:
    """Pack one channel-voice message or one complete SysEx into USB-MIDI event packets."""
    if not message:
        raise MessageError("cannot pack an empty MIDI message")
    hi = cable << 4
    status = message[0]
    if status == 0xF0:
        if message[-1] != 0xF7:
            raise MessageError("SysEx must end with F7")
        out = bytearray()
        rest = message
        while len(rest) > 3:
            out += bytes((hi | 0x4,)) + rest[:3]
            rest = rest[3:]
        end_cin = {1: 0x5, 2: 0x6, 3: 0x7}[len(rest)]
        out += bytes((hi | end_cin,)) + rest + bytes(3 - len(rest))
        return bytes(out)
    cin = _CIN_BY_STATUS.get(status & 0xF0)
    if cin is None or len(message) != _DATA_LEN_BY_CIN[cin]:
        raise MessageError(f"cannot pack message {message.hex()} (only channel voice and SysEx)")
    return bytes((hi | cin,)) + message + bytes(3 - len(message))


class UsbMidiReassembler:
    """Turns received USB-MIDI event packets back into whole messages (SysEx across packets)."""

    def __init__(self) -> None:
        self._sysex = bytearray()

    def feed(self, packets: bytes) -> list[bytes]:
        """Whole messages completed by these packets (CIN 0 / 1 padding and reserved CINs skipped)."""
        out: list[bytes] = []
        for i in range(0, len(packets) - len(packets) % 4, 4):
            cin = packets[i] & 0x0F
            length = _DATA_LEN_BY_CIN.get(cin)
            if length is None:
                continue
            data = packets[i + 1:i + 1 + length]
            if cin == 0x4:
                self._sysex += data
                continue
            if cin in (0x5, 0x6, 0x7) and (self._sysex or data[0] == 0xF0):
                self._sysex += data
                out.append(bytes(self._sysex))
                self._sysex.clear()
                continue
            out.append(bytes(data))
        return out
