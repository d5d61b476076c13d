"""Stream pointers (KSSTREAM_POINTER, kernel-streaming.md B3): leading/trailing edges and clones
moving forward through a pin's queue, with lock state, offsets, timeouts and frame references.

Documented (the page title is cited in each method's docstring): an unlocked Advance always returns
SUCCESS ("KsStreamPointerAdvance function"); AdvanceOffsets on an unlocked pointer returns
DEVICE_NOT_READY ("KsStreamPointerAdvanceOffsets function"); a clone may carry a cancel callback
that AVStream calls when its frame's IRP is cancelled ("KsStreamPointerClone function",
"PFNKSSTREAMPOINTER callback function"); timeout intervals are in 100 ns units
("KsStreamPointerScheduleTimeout function", "Stream Pointer Timers"); AVStream sets DataUsed only on
pins that generate mappings ("KSSTREAM_HEADER structure").

Model choices ([UNVERIFIED] where AVStream's docs are silent): a pointer that advances past the end
of the queue is left on no frame (a locked Advance returns DEVICE_NOT_READY, an unlocked one SUCCESS
and the next Lock DEVICE_NOT_READY); edges are re-placed on the next arriving frame, clones stay on
no frame until deleted. The trailing edge never passes the leading edge (it stays where it is).
Pointers skip cancelled frames when they move. Unlock(eject) moves the pointer to the next frame,
unlocked.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Protocol

from host.avstream.errors import StreamPointerError
from host.avstream.header import StreamFrame, StreamHeader
from host.avstream.mappings import KsMapping
from host.ks.status import NtStatus


class PointerPin(Protocol):
    """What a stream pointer uses of its pin. host.avstream.pin.Pin is one; declaring it here keeps
    imports one way (pin.py imports this module, never the reverse)."""

    is_input: bool
    progress: int
    clock: Callable[[], float]
    _clones: dict[StreamPointer, None]
    _timeouts: dict[StreamPointer, tuple[float, int, Callable[[StreamPointer], None]]]
    TIMEOUT_UNITS_PER_CLOCK_UNIT: int
    _timeout_order: int

    def _move(self, p: StreamPointer, relock: bool, check: bool = True) -> NtStatus:
        """Move `p` to the next frame (Advance / AdvanceOffsets / Unlock(eject))."""
        ...

    def _delete_clone(self, p: StreamPointer) -> None:
        """Forget a deleted clone, releasing its frame reference."""
        ...


class PointerKind(enum.Enum):
    """What a stream pointer is: one of the pin's edges, or a clone."""

    LEADING = "leading edge"
    TRAILING = "trailing edge"
    CLONE = "clone"


class StreamPointerOffset:
    """KSSTREAM_POINTER_OFFSET: Count and Remaining over the frame's bytes (or its mappings when the
    pin generates mappings); `data` / `mappings` are the part not yet consumed."""

    __slots__ = ("count", "pointer", "remaining")

    def __init__(self, pointer: StreamPointer) -> None:
        self.pointer = pointer
        self.count = 0
        self.remaining = 0

    @property
    def position(self) -> int:
        """How far into the frame the offset is (Count - Remaining)."""
        return self.count - self.remaining

    @property
    def data(self) -> memoryview:
        """The unconsumed bytes buffer[Count-Remaining:Count] (zero-copy)."""
        frame = self.pointer.frame
        if frame is None:
            raise StreamPointerError(f"{self.pointer.kind.value} is on no frame: no data")
        if frame.mappings:
            raise StreamPointerError("this pin generates mappings: use .mappings, not .data")
        return frame.buffer[self.count - self.remaining:self.count]

    @property
    def mappings(self) -> tuple[KsMapping, ...]:
        """The unconsumed mappings (pins with a DMA adapter)."""
        frame = self.pointer.frame
        if frame is None:
            raise StreamPointerError(f"{self.pointer.kind.value} is on no frame: no mappings")
        return frame.mappings[self.count - self.remaining:self.count]


class StreamPointer:
    """KSSTREAM_POINTER: a position in a pin's queue. Created by the pin (edges) or by clone()."""

    __slots__ = ("cancel_callback", "context", "deleted", "frame", "kind", "locked", "offset_in",
                 "offset_out", "pin")

    def __init__(self, pin: PointerPin, kind: PointerKind, context: object = None,
                 cancel_callback: Callable[[StreamPointer], None] | None = None) -> None:
        self.pin = pin
        self.kind = kind
        self.context = context
        self.cancel_callback = cancel_callback
        """AVStrMiniCancelCallback (clones only): called when the IRP of the clone's frame is cancelled."""
        self.frame: StreamFrame | None = None
        self.locked = False
        self.deleted = False
        self.offset_in = StreamPointerOffset(self)
        self.offset_out = StreamPointerOffset(self)

    # -- views -----------------------------------------------------------------------------------

    @property
    def offset(self) -> StreamPointerOffset:
        """Offset: OffsetIn on input (sink) pins, OffsetOut on output (source) pins."""
        return self.offset_in if self.pin.is_input else self.offset_out

    @property
    def header(self) -> StreamHeader:
        """StreamHeader of the frame the pointer is on."""
        frame = self.frame
        if frame is None:
            raise StreamPointerError(f"{self.kind.value} is on no frame: no header")
        return frame.header

    @property
    def is_edge(self) -> bool:
        """Whether this is the leading or the trailing edge (edges cannot be deleted)."""
        return self.kind is not PointerKind.CLONE

    def __repr__(self) -> str:
        where = f"frame #{self.frame.seq}" if self.frame is not None else "no frame"
        return f"<StreamPointer {self.kind.value} on {where}{' locked' if self.locked else ''}>"

    # -- operations ------------------------------------------------------------------------------

    def lock(self) -> NtStatus:
        """Lock the frame: SUCCESS, or DEVICE_NOT_READY if the pointer is on no frame or the frame
        was cancelled. Locked frames cannot be cancelled."""
        if self.deleted:
            self._alive()
        frame = self.frame
        if frame is None or frame.cancelled:
            return NtStatus.STATUS_DEVICE_NOT_READY
        if not self.locked:
            self.locked = True
            frame.locks += 1
        return NtStatus.STATUS_SUCCESS

    def unlock(self, eject: bool = False) -> NtStatus:
        """Unlock; with `eject` also move to the next frame (left unlocked). Returns the move status."""
        self._alive()
        if not self.locked:
            raise StreamPointerError(f"unlock of a {self.kind.value} that is not locked")
        self.locked = False
        frame = self.frame
        assert frame is not None
        frame.locks -= 1
        if eject:
            return self.pin._move(self, relock=False)
        return NtStatus.STATUS_SUCCESS

    def advance(self) -> NtStatus:
        """KsStreamPointerAdvance: unlock, move to the next frame, relock if it was locked.

        "KsStreamPointerAdvance function": a locked pointer that cannot be relocked after the move
        returns DEVICE_NOT_READY (past the end of the queue it is then on no frame); advancing an
        unlocked pointer "always succeeds and returns STATUS_SUCCESS" — lock() tells whether it is
        on a frame."""
        if self.deleted:
            self._alive()
        relock = self.locked
        if relock:
            self.locked = False
            self.frame.locks -= 1  # type: ignore[union-attr]
            return self.pin._move(self, relock)
        self.pin._move(self, relock)
        return NtStatus.STATUS_SUCCESS

    def advance_offsets(self, in_used: int, out_used: int, eject: bool = False) -> NtStatus:
        """KsStreamPointerAdvanceOffsets: consume bytes (or mappings); moves to the next frame when
        the pin's Offset Remaining reaches 0 or on `eject`. Never crosses more than one frame.

        "KsStreamPointerAdvanceOffsets function": returns DEVICE_NOT_READY when the pointer was not
        locked at call time (nothing moves) or could not be locked after the move. On pins that
        generate mappings AVStream sets DataUsed ("KSSTREAM_HEADER structure"); otherwise DataUsed is
        the minidriver's to set."""
        self._alive()
        if not self.locked:
            return NtStatus.STATUS_DEVICE_NOT_READY
        off_in, off_out = self.offset_in, self.offset_out
        if in_used < 0 or out_used < 0:
            raise StreamPointerError(f"advance_offsets by negative amounts ({in_used}, {out_used})")
        if in_used > off_in.remaining or out_used > off_out.remaining:
            raise StreamPointerError(
                f"advance_offsets({in_used}, {out_used}) would cross more than one frame:"
                f" OffsetIn.Remaining={off_in.remaining}, OffsetOut.Remaining={off_out.remaining}")
        frame = self.frame
        assert frame is not None
        if out_used and not self.pin.is_input and frame.mappings:
            start = off_out.count - off_out.remaining
            frame.header.data_used += sum(m.byte_count for m in frame.mappings[start:start + out_used])
        off_in.remaining -= in_used
        off_out.remaining -= out_used
        self.pin.progress += 1
        primary = off_in if self.pin.is_input else off_out
        if eject or primary.remaining == 0:
            self.locked = False
            frame.locks -= 1
            return self.pin._move(self, relock=True)
        return NtStatus.STATUS_SUCCESS

    def clone(self, context: object = None,
              cancel_callback: Callable[[StreamPointer], None] | None = None) -> StreamPointer:
        """KsStreamPointerClone: a new pointer on the same frame, same lock state and offsets; it
        holds a reference to the frame until deleted or moved.

        "KsStreamPointerClone function": AVStream calls `cancel_callback(clone)` if the IRP of the
        clone's frame is cancelled; "PFNKSSTREAMPOINTER callback function": the callback must delete
        the clone, else the IRP keeps a reference and does not complete."""
        self._alive()
        frame = self.frame
        if frame is None:
            raise StreamPointerError(f"cannot clone a {self.kind.value} that is on no frame")
        c = StreamPointer(self.pin, PointerKind.CLONE, context, cancel_callback)
        c.frame = frame
        frame.refs += 1
        if self.locked:
            if frame.cancelled:
                raise StreamPointerError("cannot clone a locked pointer on a cancelled frame")
            c.locked = True
            frame.locks += 1
        c.offset_in.count, c.offset_in.remaining = self.offset_in.count, self.offset_in.remaining
        c.offset_out.count, c.offset_out.remaining = self.offset_out.count, self.offset_out.remaining
        self.pin._clones[c] = None
        return c

    def delete(self) -> None:
        """KsStreamPointerDelete: release the clone; its frame completes if that was the last
        reference and no edge still holds it. Edges cannot be deleted."""
        self._alive()
        if self.kind is not PointerKind.CLONE:
            raise StreamPointerError(f"the {self.kind.value} cannot be deleted")
        self.pin._delete_clone(self)

    def schedule_timeout(self, callback: Callable[[StreamPointer], None], interval_100ns: int) -> None:
        """KsStreamPointerScheduleTimeout: call `callback(self)` once `interval_100ns` (100 ns units,
        "KsStreamPointerScheduleTimeout function" and "Stream Pointer Timers") have passed on the
        pin's injected clock (see Pin.run_timeouts); replaces any timeout already scheduled."""
        self._alive()
        if isinstance(interval_100ns, bool) or not isinstance(interval_100ns, int):
            raise TypeError(f"the timeout interval is a whole number of 100 ns units, not {interval_100ns!r}")
        if interval_100ns < 0:
            raise ValueError(f"timeout interval must be >= 0, got {interval_100ns}")
        pin = self.pin
        pin._timeout_order += 1
        deadline = pin.clock() + interval_100ns / pin.TIMEOUT_UNITS_PER_CLOCK_UNIT
        pin._timeouts[self] = (deadline, pin._timeout_order, callback)

    def cancel_timeout(self) -> bool:
        """KsStreamPointerCancelTimeout; False when none was scheduled."""
        self._alive()
        return self.pin._timeouts.pop(self, None) is not None

    def _alive(self) -> None:
        if self.deleted:
            raise StreamPointerError(f"use of a deleted {self.kind.value}")
