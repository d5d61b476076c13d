"""IRP-like frames a pin queues: KSSTREAM_HEADER (DataUsed, FrameExtent, flags, times) plus the
buffer, its DMA mappings and the books the pin keeps while the frame is queued (B3)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING

from host.ks.status import NtStatus

if TYPE_CHECKING:
    from host.avstream.allocators import Frame
    from host.avstream.mappings import KsMapping


class StreamHeaderFlags(enum.IntFlag):
    """KSSTREAM_HEADER_OPTIONSF_* bits (ks.h)."""

    SPLICEPOINT = 0x1
    PREROLL = 0x2
    DATADISCONTINUITY = 0x4
    TYPECHANGED = 0x8
    TIMEVALID = 0x10
    TIMEDISCONTINUITY = 0x40
    FLUSHONPAUSE = 0x80
    DURATIONVALID = 0x100
    ENDOFSTREAM = 0x200
    LOOPEDDATA = 0x80000000


class StreamHeader:
    """KSSTREAM_HEADER: DataUsed, FrameExtent, OptionsFlags, PresentationTime and Duration
    (times in 100 ns units, as KSTIME with a 1/1 ratio)."""

    __slots__ = ("data_used", "duration", "frame_extent", "options_flags", "presentation_time")

    def __init__(self, frame_extent: int, data_used: int = 0, options_flags: int = 0,
                 presentation_time: int = 0, duration: int = 0) -> None:
        if not 0 <= data_used <= frame_extent:
            raise ValueError(f"DataUsed {data_used} must be within 0..FrameExtent {frame_extent}")
        self.frame_extent = frame_extent
        self.data_used = data_used
        self.options_flags = options_flags
        self.presentation_time = presentation_time
        self.duration = duration

    def __repr__(self) -> str:
        return (f"StreamHeader(data_used={self.data_used}, frame_extent={self.frame_extent},"
                f" flags={StreamHeaderFlags(self.options_flags)!r}, pts={self.presentation_time},"
                f" duration={self.duration})")


class StreamFrame:
    """One queued frame (the model's IRP): buffer + header, and while queued its reference count,
    lock count, cancel state and queue links. `status` is set when it completes (exactly once)."""

    __slots__ = ("buffer", "cancelled", "completed", "frame", "header", "locks", "mappings", "next",
                 "on_complete", "owner", "prev", "refs", "seq", "status")

    def __init__(self, buffer: memoryview, header: StreamHeader, seq: int, frame: Frame | None,
                 on_complete: Callable[[StreamFrame], None] | None = None, owner: object = None) -> None:
        self.owner = owner
        self.buffer = buffer
        self.header = header
        self.seq = seq
        self.frame = frame
        self.on_complete = on_complete
        self.mappings: tuple[KsMapping, ...] = ()
        self.refs = 0
        self.locks = 0
        self.cancelled = False
        self.completed = False
        self.status = NtStatus.STATUS_PENDING
        self.prev: StreamFrame | None = None
        self.next: StreamFrame | None = None

    @property
    def data(self) -> memoryview:
        """The valid bytes: buffer[:DataUsed] (a zero-copy view)."""
        return self.buffer[:self.header.data_used]

    def __repr__(self) -> str:
        state = "completed" if self.completed else "cancelled" if self.cancelled else "queued"
        return f"<StreamFrame #{self.seq} {state} refs={self.refs} locks={self.locks} {self.header!r}>"
