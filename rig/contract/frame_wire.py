"""The frame wire format on the vendor bulk endpoints: contract.FRAME_HEADER, then the payload.

Host code and the loopback board both encode, decode and validate frames here, so a frame the
rig accepts is a frame the board accepts. Decoding returns the payload as a memoryview (no copy).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from rig import contract as c
from rig.errors import RigError

HEADER_SIZE = c.FRAME_HEADER.size
_HEADER = struct.Struct(c.FRAME_HEADER.format)
_OFF_FLAGS = 5
_OFF_SEQ = 8
_OFF_TIMES = 24
_TIMES = struct.Struct("<QQ")


class FrameError(RigError, ValueError):
    """A frame failed validation; the message names what was expected and what was found."""


class BadMagic(FrameError):
    """The first four bytes are not FRAME_MAGIC."""


class BadVersion(FrameError):
    """The header's version is not FRAME_VERSION."""


class BadHeaderLength(FrameError):
    """header_len is not the size of FRAME_HEADER."""


class LengthMismatch(FrameError):
    """The transfer is shorter or longer than header_len + payload_len (or beyond the maximum)."""


class Truncated(LengthMismatch):
    """Fewer bytes than a header: the transfer ended too early."""


class BadCrc(FrameError):
    """The payload's CRC-32 differs from payload_crc."""


@dataclass(frozen=True)
class Frame:
    """A decoded frame: header fields and the payload as a view into the received bytes."""

    seq: int
    flags: c.FrameFlag
    payload: memoryview
    payload_crc: int
    rx_time_us: int = 0
    tx_time_us: int = 0

    @property
    def payload_len(self) -> int:
        """Payload bytes (the header's payload_len, checked against the transfer)."""
        return len(self.payload)

    def __len__(self) -> int:
        return HEADER_SIZE + len(self.payload)


def encode(payload: bytes | bytearray | memoryview, seq: int, flags: int = c.FrameFlag.FROM_HOST,
           rx_time_us: int = 0, tx_time_us: int = 0) -> bytes:
    """Header + payload as one transfer; ValueError names a payload longer than FRAME_MAX_PAYLOAD."""
    if len(payload) > c.FRAME_MAX_PAYLOAD:
        raise LengthMismatch(f"payload of {len(payload)} bytes exceeds FRAME_MAX_PAYLOAD "
                             f"({c.FRAME_MAX_PAYLOAD})")
    header = _HEADER.pack(c.FRAME_MAGIC, c.FRAME_VERSION, int(flags), HEADER_SIZE, seq & 0xFFFFFFFF,
                          len(payload), zlib.crc32(payload), 0, rx_time_us, tx_time_us)
    return header + bytes(payload)


def check_header(data: bytes | bytearray | memoryview) -> int:
    """Validate the header of a received transfer and return its payload length (no CRC check)."""
    if len(data) < HEADER_SIZE:
        raise Truncated(f"frame truncated: need at least {HEADER_SIZE} header bytes, got {len(data)}")
    magic, version, _flags, header_len, _seq, payload_len, _crc, _res, _rx, _tx = _HEADER.unpack_from(data)
    if magic != c.FRAME_MAGIC:
        raise BadMagic(f"bad frame magic: expected 0x{c.FRAME_MAGIC:08X}, found 0x{magic:08X}")
    if version != c.FRAME_VERSION:
        raise BadVersion(f"bad frame version: expected {c.FRAME_VERSION}, found {version}")
    if header_len != HEADER_SIZE:
        raise BadHeaderLength(f"bad frame header_len: expected {HEADER_SIZE}, found {header_len}")
    if payload_len > c.FRAME_MAX_PAYLOAD:
        raise LengthMismatch(f"frame payload_len {payload_len} exceeds FRAME_MAX_PAYLOAD "
                             f"({c.FRAME_MAX_PAYLOAD})")
    if len(data) != HEADER_SIZE + payload_len:
        kind = Truncated if len(data) < HEADER_SIZE + payload_len else LengthMismatch
        raise kind(f"frame length mismatch: header says {HEADER_SIZE} + {payload_len} = "
                   f"{HEADER_SIZE + payload_len} bytes, transfer has {len(data)}")
    return int(payload_len)


def decode(data: bytes | bytearray | memoryview) -> Frame:
    """Validate a whole transfer (header, length, CRC) and return the Frame (payload not copied)."""
    payload_len = check_header(data)
    _m, _v, flags, _hl, seq, _pl, crc, _res, rx, tx = _HEADER.unpack_from(data)
    payload = memoryview(data)[HEADER_SIZE:HEADER_SIZE + payload_len]
    found = zlib.crc32(payload)
    if found != crc:
        raise BadCrc(f"bad frame CRC (seq {seq}): header says 0x{crc:08X}, payload has 0x{found:08X}")
    return Frame(seq, c.FrameFlag(flags), payload, crc, rx, tx)


def seq_of(data: bytes) -> int | None:
    """The seq field of encoded frame bytes, None when they are too short to hold it."""
    return struct.unpack_from("<I", data, _OFF_SEQ)[0] if len(data) >= _OFF_SEQ + 4 else None


def restamp(frame: bytearray, seq: int, flags: int, rx_time_us: int, tx_time_us: int) -> None:
    """Rewrite seq, flags and the device times of an encoded frame in place (the board's echo)."""
    frame[_OFF_FLAGS] = flags & 0xFF
    struct.pack_into("<I", frame, _OFF_SEQ, seq & 0xFFFFFFFF)
    _TIMES.pack_into(frame, _OFF_TIMES, rx_time_us, tx_time_us)


def source_payload(seq: int, length: int) -> bytes:
    """The payload the board sends in FrameMode.SOURCE: byte i is (seq + i) & 0xFF."""
    start = seq & 0xFF
    pattern = bytes(range(256)) * (length // 256 + 2)
    return pattern[start:start + length]


class SequenceTracker:
    """Follows one direction's sequence numbers and records every gap and repeat."""

    def __init__(self, first: int = 0) -> None:
        self.expected = first
        self.received = 0
        self.gaps: list[tuple[int, int]] = []
        """(expected, found) pairs where a number was skipped."""
        self.repeats: list[int] = []
        """Sequence numbers seen again (or going backwards)."""

    def check(self, seq: int) -> bool:
        """Record `seq`; True when it is the expected next number."""
        self.received += 1
        expected = self.expected
        self.expected = (seq + 1) & 0xFFFFFFFF
        if seq == expected:
            return True
        if ((seq - expected) & 0xFFFFFFFF) < 0x80000000:
            self.gaps.append((expected, seq))
        else:
            self.repeats.append(seq)
        return False

    @property
    def ok(self) -> bool:
        """No gap and no repeat so far."""
        return not self.gaps and not self.repeats

    def __repr__(self) -> str:
        return (f"SequenceTracker(expected={self.expected}, received={self.received}, "
                f"gaps={self.gaps[:5]}, repeats={self.repeats[:5]})")
