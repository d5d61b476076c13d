"""A pin's frame queue with stream pointers (kernel-streaming.md B3): leading edge, clones, advance,
completion when the last reference goes, flush on STOP.

Only what the frame miniport uses, written here because host.avstream does not (yet) model pins and
stream pointers; it follows the same rules so it can be swapped for that model later:
- frames arrive in order; the leading edge sits on the oldest frame not yet advanced past, locked;
- a clone adds a reference to the frame it points at and keeps it alive after the edge moves on;
- advancing past the last queued frame leaves the edge empty (STATUS_DEVICE_NOT_READY: returns False);
- a frame completes when the edge has passed it and its reference count is 0;
- flush (STOP) completes every frame with DataUsed = 0 and invalidates its clones.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from host.avstream import Frame, Status
from rig.miniport.errors import StreamPointerMisuse


class QueuedFrame:
    """One allocator frame in a pin's queue: its valid length, DataUsed, references and status."""

    __slots__ = ("clones", "completed", "data_used", "frame", "length", "passed", "queued", "refs", "seq",
                 "status")

    def __init__(self, frame: Frame, length: int, seq: int = -1) -> None:
        if not 0 <= length <= len(frame):
            raise ValueError(f"frame length {length} is outside the {len(frame)}-byte frame")
        self.frame = frame
        self.length = length
        self.seq = seq
        self.data_used = 0
        self.refs = 0
        self.passed = False
        self.completed = False
        self.queued = False
        self.status = Status.PENDING
        self.clones: list[StreamPointer] = []

    @property
    def data(self) -> memoryview:
        """The valid bytes of the frame (what is sent, or the capacity a read may fill)."""
        return self.frame.buffer[:self.length]

    def __repr__(self) -> str:
        return (f"<QueuedFrame seq={self.seq} {self.length} bytes refs={self.refs} "
                f"{'completed' if self.completed else 'queued'} {self.status.name}>")


class StreamPointer:
    """A pointer into a PinQueue: the leading edge (one per queue) or a clone of it."""

    __slots__ = ("deleted", "entry", "is_edge", "queue")

    def __init__(self, queue: PinQueue, entry: QueuedFrame, *, is_edge: bool) -> None:
        self.queue = queue
        self.entry = entry
        self.is_edge = is_edge
        self.deleted = False

    @property
    def data(self) -> memoryview:
        """The frame bytes the pointer refers to."""
        self._check()
        return self.entry.data

    def _check(self) -> None:
        if self.deleted:
            raise StreamPointerMisuse(f"{self.queue.name}: stream pointer used after delete/flush")

    def clone(self) -> StreamPointer:
        """A clone on the same frame; it holds a reference until delete()."""
        self._check()
        clone = StreamPointer(self.queue, self.entry, is_edge=False)
        self.entry.refs += 1
        self.entry.clones.append(clone)
        return clone

    def advance(self) -> bool:
        """Leading edge only: unlock, move to the next queued frame and lock it. False when there
        is none (STATUS_DEVICE_NOT_READY): the edge is then empty until a frame arrives."""
        self._check()
        if not self.is_edge:
            raise StreamPointerMisuse(f"{self.queue.name}: only the leading edge advances here")
        return self.queue._advance_edge(self)

    def delete(self, data_used: int | None = None, status: Status = Status.SUCCESS) -> None:
        """Clones only: drop the reference, setting DataUsed first when given; completes the frame
        if the edge has passed it and this was the last reference."""
        self._check()
        if self.is_edge:
            raise StreamPointerMisuse(f"{self.queue.name}: the leading edge cannot be deleted")
        self.deleted = True
        entry = self.entry
        entry.clones.remove(self)
        if data_used is not None:
            if not 0 <= data_used <= len(entry.frame):
                raise ValueError(f"{self.queue.name}: DataUsed {data_used} outside the "
                                 f"{len(entry.frame)}-byte frame")
            entry.data_used = data_used
        entry.status = status
        entry.refs -= 1
        self.queue._maybe_complete(entry)


class PinQueue:
    """The frames queued on one pin, in arrival order, and the pin's leading edge."""

    def __init__(self, name: str, on_complete: Callable[[QueuedFrame], None]) -> None:
        self.name = name
        self._on_complete = on_complete
        self._ahead: deque[QueuedFrame] = deque()
        self._edge: StreamPointer | None = None
        self._behind: list[QueuedFrame] = []
        self.completed = 0
        self.flushed = 0

    def submit(self, entry: QueuedFrame) -> None:
        """A frame arrives (an IRP queued on the pin)."""
        if entry.queued:
            raise StreamPointerMisuse(f"{self.name}: frame {entry!r} submitted twice")
        entry.queued = True
        self._ahead.append(entry)

    def leading_edge(self) -> StreamPointer | None:
        """The locked leading edge, or None when no frame is at or ahead of it."""
        if self._edge is None:
            if not self._ahead:
                return None
            entry = self._ahead.popleft()
            entry.refs += 1
            self._edge = StreamPointer(self, entry, is_edge=True)
        return self._edge

    def _advance_edge(self, edge: StreamPointer) -> bool:
        entry = edge.entry
        edge.deleted = True
        self._edge = None
        entry.passed = True
        entry.refs -= 1
        if entry.refs:
            self._behind.append(entry)
        self._maybe_complete(entry)
        return self.leading_edge() is not None

    def _maybe_complete(self, entry: QueuedFrame) -> None:
        if entry.passed and entry.refs == 0 and not entry.completed:
            entry.completed = True
            if entry in self._behind:
                self._behind.remove(entry)
            self.completed += 1
            self._on_complete(entry)

    def flush(self) -> int:
        """STOP: complete every queued frame with DataUsed = 0 (status CANCELLED), invalidating
        clones and the edge; returns how many frames were flushed."""
        entries = list(self._behind)
        if self._edge is not None:
            self._edge.deleted = True
            entries.append(self._edge.entry)
            self._edge = None
        entries.extend(self._ahead)
        self._ahead.clear()
        self._behind.clear()
        for entry in entries:
            for clone in entry.clones:
                clone.deleted = True
            entry.clones.clear()
            entry.refs = 0
            entry.passed = True
            entry.data_used = 0
            entry.status = Status.CANCELLED
            entry.completed = True
            self.flushed += 1
            self._on_complete(entry)
        return len(entries)

    @property
    def queued(self) -> int:
        """Frames not yet completed (ahead of, at, or held behind the leading edge)."""
        return len(self._ahead) + len(self._behind) + (1 if self._edge is not None else 0)

    @property
    def ahead(self) -> int:
        """Frames at or ahead of the leading edge (not yet handed to the hardware)."""
        return len(self._ahead) + (1 if self._edge is not None else 0)
