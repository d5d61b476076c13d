"""The user-mode DirectMusic buffer format (dmusbuff.h): packed DMUS_EVENTHEADER records.

`DMUS_EVENTHEADER { DWORD cbEvent; DWORD dwChannelGroup; REFERENCE_TIME rtDelta; DWORD dwFlags; }`
packed to 4 bytes (20 bytes, little endian), each record followed by cbEvent data bytes and padded so
the next record starts QWORD aligned: DMUS_EVENT_SIZE(cb) = (20 + cb + 7) & ~7.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from host.mxf.errors import MalformedBuffer

HEADER = struct.Struct("<IIqI")
"""DMUS_EVENTHEADER, #pragma pack(4): cbEvent, dwChannelGroup, rtDelta, dwFlags."""
HEADER_SIZE = HEADER.size
DMUS_EVENT_STRUCTURED = 0x1
"""dwFlags: the event is a structured MIDI message (not unstructured data such as SysEx)."""

assert HEADER_SIZE == 20


def dmus_event_size(cb: int) -> int:
    """DMUS_EVENT_SIZE(cb): header plus data, rounded up to a QWORD (8 bytes)."""
    return (HEADER_SIZE + cb + 7) & ~7


@dataclass(frozen=True)
class PackedEvent:
    """One DMUS_EVENTHEADER record: where it starts, its header fields and its data bytes."""

    offset: int
    channel_group: int
    rt_delta: int
    flags: int
    data: bytes


def iter_records(buf: bytes | bytearray | memoryview) -> Iterator[PackedEvent]:
    """Parse every record of a packed buffer, raising MalformedBuffer (with the offset) on bad input.

    The last record's trailing pad may be omitted (a buffer may end right after its data); a
    header that does not fit, or data that runs past the end, is malformed.
    """
    view = memoryview(buf)
    end = len(view)
    offset = 0
    unpack = HEADER.unpack_from
    while offset < end:
        if end - offset < HEADER_SIZE:
            raise MalformedBuffer(
                f"truncated DMUS_EVENTHEADER: {end - offset} bytes left, {HEADER_SIZE} needed", offset
            )
        cb, group, delta, flags = unpack(view, offset)
        data_at = offset + HEADER_SIZE
        if cb > end - data_at:
            raise MalformedBuffer(
                f"cbEvent {cb} runs past the end of the buffer ({end - data_at} data bytes left)", offset
            )
        yield PackedEvent(offset, group, delta, flags, bytes(view[data_at : data_at + cb]))
        offset += dmus_event_size(cb)


def pack_record(data: bytes, channel_group: int, rt_delta: int, flags: int) -> bytes:
    """One record, padded to DMUS_EVENT_SIZE(len(data)) with zero bytes."""
    cb = len(data)
    raw = HEADER.pack(cb, channel_group, rt_delta, flags) + data
    return raw + bytes(dmus_event_size(cb) - len(raw))


def pack_records(records: Iterable[tuple[bytes, int, int, int]]) -> bytes:
    """A whole buffer from (data, channel_group, rt_delta, flags) tuples, each record QWORD aligned."""
    return b"".join(pack_record(*r) for r in records)
