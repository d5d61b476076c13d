"""A pin with a frame queue, edges, state machine and process dispatch (kernel-streaming.md B3).

Processing is attempted when the pin reaches its minimum processing state with frames queued, when
a frame arrives with nothing at or ahead of the leading edge, on attempt_processing(), and when the
gate opens; never while the gate is closed. SUCCESS from the process callback means "call again",
PENDING means "the driver will call attempt_processing"; SUCCESS that repeats `stall_limit` times
without progress (no pointer movement, offset advance, completion or cancellation) is a driver bug:
raised as ProcessingStalled, or recorded in `stalls` with `on_stall="report"`.

Model choices ([UNVERIFIED] in AVStream docs): the minimum processing state is PAUSE, or RUN with
`process_in_run_state_only` (KSPIN_FLAG_PROCESS_IN_RUN_STATE_ONLY), and only reaching it is a
trigger (PAUSE -> RUN is not); processing needs a frame at the leading edge unless
`frames_required=False` (KSPIN_FLAG_FRAMES_NOT_REQUIRED_FOR_PROCESSING); STOP flushes: every clone
is deleted, the edges released, and every queued frame completes with DataUsed 0 and `stop_status`
(SUCCESS by default, as stream class completes outstanding reads), returning to its allocator; a
frame submitted to a stopped pin completes at once with INVALID_DEVICE_STATE.

Documented: a standard-transport pin's SetDeviceState sees single steps only, AVStream walking through
the intermediate states ("PFNKSPINSETDEVICESTATE callback function"); with
`standard_transport=False` the callback sees the jump unfiltered. The edges are returned unlocked
whether or not they are on a frame ("KsPinGetLeadingEdgeStreamPointer function"); a pin without a
distinct trailing edge has none (None, "KsPinGetTrailingEdgeStreamPointer function").
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable

from host.avstream.allocators import Frame
from host.avstream.errors import (
    AllocatorMisuse,
    AvStreamError,
    ProcessingStalled,
)
from host.avstream.header import StreamFrame, StreamHeader
from host.avstream.mappings import DmaAdapter
from host.avstream.stream_pointer import PointerKind, StreamPointer
from host.ks.state import KsState
from host.ks.status import NtStatus


class Dataflow(enum.IntEnum):
    """KSPIN_DATAFLOW: IN = the pin receives data (sink/render), OUT = it produces data (source/capture)."""

    IN = 1
    OUT = 2


ProcessCallback = Callable[["Pin"], NtStatus]
"""The minidriver's pin-centric process dispatch."""


class Pin:
    """A pin-centric AVStream pin: frames are submitted, the minidriver's `process` callback moves
    stream pointers over them, and frames complete (and go back to their allocator) when released."""

    TIMEOUT_UNITS_PER_CLOCK_UNIT = 10_000_000
    """Stream-pointer timeouts are given in 100 ns units; the injected clock counts seconds."""

    def __init__(self, process: ProcessCallback, *, dataflow: Dataflow = Dataflow.OUT,
                 distinct_trailing_edge: bool = False, process_in_run_state_only: bool = False,
                 frames_required: bool = True, clock: Callable[[], float] = time.monotonic,
                 on_complete: Callable[[StreamFrame], None] | None = None, free_on_complete: bool = True,
                 stall_limit: int = 3, on_stall: str = "raise",
                 stop_status: NtStatus = NtStatus.STATUS_SUCCESS,
                 dma: DmaAdapter | None = None,
                 set_state: Callable[[Pin, KsState, KsState], NtStatus] | None = None,
                 standard_transport: bool = True) -> None:
        """process: the minidriver's process callback. dataflow: IN (sink) or OUT (source); picks
        which offset is `StreamPointer.offset`. distinct_trailing_edge: KSPIN_FLAG_DISTINCT_TRAILING_EDGE.
        process_in_run_state_only: minimum processing state RUN instead of PAUSE. frames_required:
        process only with a frame at the leading edge. clock: seconds, for stream-pointer timeouts.
        on_complete: called with every completed frame. free_on_complete: give allocator frames back
        on completion. stall_limit / on_stall: SUCCESS-without-progress detection. stop_status: the
        status frames flushed by STOP complete with. dma: generate mappings. set_state: the
        minidriver's SetDeviceState callback (a failure status refuses the transition).
        standard_transport: AVStream steps the callback through intermediate states (False: the
        callback sees a jump such as RUN -> STOP in one call)."""
        if stall_limit < 1:
            raise ValueError(f"stall_limit must be >= 1, got {stall_limit}")
        if on_stall not in ("raise", "report"):
            raise ValueError(f"on_stall must be 'raise' or 'report', got {on_stall!r}")
        self.process = process
        self.dataflow = Dataflow(dataflow)
        self.is_input = self.dataflow is Dataflow.IN
        self.min_state = KsState.RUN if process_in_run_state_only else KsState.PAUSE
        self.frames_required = frames_required
        self.clock = clock
        self.on_complete = on_complete
        self.free_on_complete = free_on_complete
        self.stall_limit = stall_limit
        self.on_stall = on_stall
        self.stop_status = stop_status
        self.dma = dma
        self.set_state_callback = set_state
        self.standard_transport = standard_transport
        self.state = KsState.STOP
        self.gate_open = True
        self.progress = 0
        """Bumped by every pointer move, offset advance, completion and cancellation."""
        self.submitted = 0
        self.completed = 0
        self.queued = 0
        self.process_calls = 0
        self.last_process_status: NtStatus | None = None
        self.stalls: list[str] = []
        self._head: StreamFrame | None = None
        self._tail: StreamFrame | None = None
        self._next_seq = 0
        self._leading = StreamPointer(self, PointerKind.LEADING)
        self._trailing = StreamPointer(self, PointerKind.TRAILING) if distinct_trailing_edge else None
        self._clones: dict[StreamPointer, None] = {}
        """Live clones in creation order (a dict used as an ordered set)."""
        self._timeouts: dict[StreamPointer, tuple[float, int, Callable[[StreamPointer], None]]] = {}
        self._timeout_order = 0
        self._in_process = False
        self._again = False

    # -- edges -----------------------------------------------------------------------------------

    def get_leading_edge(self, locked: bool = True) -> StreamPointer | None:
        """KsPinGetLeadingEdgeStreamPointer ("KsPinGetLeadingEdgeStreamPointer function"): LOCKED
        returns the locked edge, or None when it is on no frame; UNLOCKED (`locked=False`) returns
        the edge "regardless of whether it references a data frame or not"."""
        return self._edge(self._leading, locked)

    def get_trailing_edge(self, locked: bool = True) -> StreamPointer | None:
        """KsPinGetTrailingEdgeStreamPointer ("KsPinGetTrailingEdgeStreamPointer function"): None
        when the pin has no distinct trailing edge (DISTINCT_TRAILING_EDGE not set) or, LOCKED, when
        the edge is on no frame; otherwise as get_leading_edge."""
        if self._trailing is None:
            return None
        return self._edge(self._trailing, locked)

    def _edge(self, edge: StreamPointer, locked: bool) -> StreamPointer | None:
        frame = edge.frame
        if frame is None:
            return None if locked else edge
        if locked:
            if not edge.locked:
                if frame.cancelled:  # never true for an edge (edges leave cancelled frames); kept safe
                    return None
                edge.locked = True
                frame.locks += 1
        elif edge.locked:
            edge.locked = False
            frame.locks -= 1
        return edge

    @property
    def clones(self) -> frozenset[StreamPointer]:
        """The clones currently alive."""
        return frozenset(self._clones)

    # -- frames ----------------------------------------------------------------------------------

    def submit(self, buffer: Frame | memoryview | bytearray, *, data_used: int | None = None,
               options_flags: int = 0, presentation_time: int = 0, duration: int = 0,
               on_complete: Callable[[StreamFrame], None] | None = None) -> StreamFrame:
        """Queue a frame (an IRP). `data_used` defaults to the whole buffer on input pins, 0 on output
        pins. A Frame from an allocator goes back to it when it completes (`free_on_complete`)."""
        if isinstance(buffer, Frame):
            frame: Frame | None = buffer
            view = buffer.buffer
            if not buffer.outstanding and buffer.allocator.checked:
                raise AllocatorMisuse(f"submit of {buffer!r}, which is free in its allocator"
                                      " (allocate it first)")
        else:
            frame = None
            view = memoryview(buffer)
            if view.format != "B" or view.ndim != 1:
                view = view.cast("B")  # frames are bytes, whatever the exporter's item type
        extent = len(view)
        if data_used is None:
            data_used = extent if self.is_input else 0
        sf = StreamFrame(view, StreamHeader(extent, data_used, options_flags, presentation_time, duration),
                         self._next_seq, frame, on_complete, self)
        self._next_seq += 1
        self.submitted += 1
        if self.dma is not None:
            sf.mappings = self.dma.map(view, frame)
        if self.state is KsState.STOP:
            sf.header.data_used = 0
            self._finish(sf, NtStatus.STATUS_INVALID_DEVICE_STATE)
            return sf
        tail = self._tail
        sf.prev = tail
        if tail is None:
            self._head = sf
        else:
            tail.next = sf
        self._tail = sf
        self.queued += 1
        self.progress += 1
        leading = self._leading
        if leading.frame is None:
            trailing = self._trailing
            if trailing is not None and trailing.frame is None:
                self._attach(trailing, sf)
            self._attach(leading, sf)
            self._maybe_process()
        return sf

    def cancel(self, sf: StreamFrame) -> bool:
        """Cancel a queued frame's IRP. Locked frames cannot be cancelled (False). Edges on it move
        to the next frame; the cancel callback of every clone on it is called, oldest clone first
        ("KsStreamPointerClone function"); it completes with CANCELLED once no clone references it
        (a clone not deleted keeps it pending: "PFNKSSTREAMPOINTER callback function")."""
        if sf.completed or sf.cancelled or sf.locks or not self._owns(sf):
            return False
        sf.cancelled = True
        self.progress += 1
        trailing = self._trailing
        for edge in (self._leading, trailing):
            if edge is not None and edge.frame is sf:
                self._move(edge, relock=False, check=False)
        for clone in [c for c in self._clones if c.frame is sf]:
            callback = clone.cancel_callback
            # An earlier callback may have deleted or moved this clone.
            if callback is not None and clone.frame is sf and not clone.deleted:
                callback(clone)
        if sf.refs == 0 and not sf.completed:
            self._finish(sf, NtStatus.STATUS_CANCELLED)
        return True

    def _owns(self, sf: StreamFrame) -> bool:
        return sf.owner is self and not sf.completed

    def frames(self) -> list[StreamFrame]:
        """The frames in the queue, oldest first (including cancelled ones still referenced)."""
        out, f = [], self._head
        while f is not None:
            out.append(f)
            f = f.next
        return out

    # -- pointer movement (used by StreamPointer) ------------------------------------------------

    def _attach(self, p: StreamPointer, sf: StreamFrame) -> None:
        p.frame = sf
        sf.refs += 1
        if sf.mappings:
            n = len(sf.mappings)
            p.offset_in.count = p.offset_in.remaining = n
            p.offset_out.count = p.offset_out.remaining = n
        else:
            h = sf.header
            p.offset_in.count = p.offset_in.remaining = h.data_used
            p.offset_out.count = p.offset_out.remaining = h.frame_extent

    def _move(self, p: StreamPointer, relock: bool, check: bool = True) -> NtStatus:
        """Move an (already unlocked) pointer to the next live frame; complete the frame it left."""
        old = p.frame
        if old is None:
            return NtStatus.STATUS_DEVICE_NOT_READY
        target = old.next
        while target is not None and target.cancelled:
            target = target.next
        if p.kind is PointerKind.TRAILING:
            lead = self._leading.frame
            if lead is old:  # the trailing edge never passes the leading edge
                if relock:
                    p.locked = True
                    old.locks += 1
                return NtStatus.STATUS_DEVICE_NOT_READY
        old.refs -= 1
        self.progress += 1
        if target is None:
            p.frame = None
            p.offset_in.count = p.offset_in.remaining = p.offset_out.count = p.offset_out.remaining = 0
            status = NtStatus.STATUS_DEVICE_NOT_READY
        else:
            self._attach(p, target)
            if relock:
                p.locked = True
                target.locks += 1
            status = NtStatus.STATUS_SUCCESS
        if check and old.refs == 0:
            self._maybe_complete(old)
        return status

    def _maybe_complete(self, sf: StreamFrame) -> None:
        if sf.refs or sf.completed:
            return
        if sf.cancelled:
            self._finish(sf, NtStatus.STATUS_CANCELLED)
            return
        lead = self._leading.frame
        if lead is not None and lead.seq <= sf.seq:
            return
        trailing = self._trailing
        if trailing is not None:
            trail = trailing.frame
            if (trail is not None and trail.seq <= sf.seq) or (trail is None and lead is not None):
                return
        self._finish(sf, NtStatus.STATUS_SUCCESS)

    def _delete_clone(self, p: StreamPointer) -> None:
        self._clones.pop(p, None)
        self._timeouts.pop(p, None)
        p.deleted = True
        sf = p.frame
        if sf is None:
            return
        if p.locked:
            p.locked = False
            sf.locks -= 1
        p.frame = None
        sf.refs -= 1
        if sf.refs == 0:
            self._maybe_complete(sf)

    def _finish(self, sf: StreamFrame, status: NtStatus) -> None:
        """Complete a frame exactly once: unlink it, report it, give it back to its allocator."""
        if sf.completed:
            raise AvStreamError(f"frame #{sf.seq} completed twice (model bug)")
        prev, nxt = sf.prev, sf.next
        queued = prev is not None or self._head is sf
        if queued:
            if prev is None:
                self._head = nxt
            else:
                prev.next = nxt
            if nxt is None:
                self._tail = prev
            else:
                nxt.prev = prev
            sf.prev = sf.next = None
            self.queued -= 1
        sf.completed = True
        sf.status = status
        self.completed += 1
        self.progress += 1
        if sf.on_complete is not None:
            sf.on_complete(sf)
        if self.on_complete is not None:
            self.on_complete(sf)
        frame = sf.frame
        if frame is not None and self.free_on_complete:
            frame.allocator.free(frame)

    # -- state, gate, processing -----------------------------------------------------------------

    def set_state(self, state: KsState) -> NtStatus:
        """KSPROPERTY_CONNECTION_STATE set: a standard-transport pin walks STOP<->ACQUIRE<->PAUSE<->RUN
        one step at a time, the SetDeviceState callback seeing each step ("PFNKSPINSETDEVICESTATE
        callback function"); a refused step stops the walk there and its status is returned. STOP
        flushes."""
        new = KsState(state)
        if not self.standard_transport:
            return self._step(new)
        while self.state != new:
            status = self._step(KsState(self.state + (1 if new > self.state else -1)))
            if not status.is_success:
                return status
        return NtStatus.STATUS_SUCCESS

    def _step(self, new: KsState) -> NtStatus:
        """One transition as the SetDeviceState callback sees it."""
        old = self.state
        if new == old:
            return NtStatus.STATUS_SUCCESS
        if self.set_state_callback is not None:
            status = self.set_state_callback(self, new, old)
            if not NtStatus(status).is_success:
                return NtStatus(status)
        self.state = new
        self.progress += 1
        if new is KsState.STOP:
            self._flush()
        elif old < self.min_state <= new:  # reaching the minimum processing state
            self._maybe_process()
        return NtStatus.STATUS_SUCCESS

    def _flush(self) -> None:
        for p in (*self._clones, self._leading, self._trailing):
            if p is None:
                continue
            if p.kind is PointerKind.CLONE:
                p.deleted = True
            sf = p.frame
            if sf is not None:
                if p.locked:
                    sf.locks -= 1
                sf.refs -= 1
            p.frame = None
            p.locked = False
            p.offset_in.count = p.offset_in.remaining = p.offset_out.count = p.offset_out.remaining = 0
        self._clones.clear()
        self._timeouts.clear()
        while self._head is not None:
            sf = self._head
            sf.header.data_used = 0
            self._finish(sf, NtStatus.STATUS_CANCELLED if sf.cancelled else self.stop_status)

    def close_gate(self) -> None:
        """Close the process gate: no processing until it opens."""
        self.gate_open = False

    def open_gate(self) -> None:
        """Open the process gate and attempt processing."""
        self.gate_open = True
        self._maybe_process()

    def attempt_processing(self) -> None:
        """KsPinAttemptProcessing: process now if the pin may (from inside process: once more after)."""
        self._maybe_process()

    def _can_process(self) -> bool:
        return (self.gate_open and self.state >= self.min_state
                and (self._leading.frame is not None or not self.frames_required))

    def _maybe_process(self) -> None:
        if self._in_process:
            self._again = True
            return
        if not (self.gate_open and self.state >= self.min_state
                and (self._leading.frame is not None or not self.frames_required)):
            return
        self._in_process = True
        stalls = 0
        process = self.process
        try:
            while True:
                self._again = False
                before = self.progress
                self.process_calls += 1
                status = process(self)
                self.last_process_status = status
                if status == NtStatus.STATUS_SUCCESS:
                    if self.progress == before:
                        stalls += 1
                        if stalls >= self.stall_limit:
                            message = (f"process returned SUCCESS {stalls} times in a row without progress"
                                       f" (no pointer moved, no frame completed); return PENDING and call"
                                       f" attempt_processing instead")
                            if self.on_stall == "raise":
                                raise ProcessingStalled(message)
                            self.stalls.append(message)
                            return
                    else:
                        stalls = 0
                elif not self._again:
                    return
                if not self._can_process():
                    return
        finally:
            self._in_process = False

    # -- timeouts --------------------------------------------------------------------------------

    def run_timeouts(self) -> int:
        """Fire every scheduled stream-pointer timeout whose time has come by the injected clock;
        returns how many fired."""
        if not self._timeouts:
            return 0
        now = self.clock()
        due = sorted((when, order, p, cb) for p, (when, order, cb) in self._timeouts.items() if when <= now)
        fired = 0
        for _, order, p, cb in due:  # by deadline, then by scheduling order: deterministic
            entry = self._timeouts.get(p)
            if entry is not None and entry[1] == order:  # not cancelled or rescheduled by an earlier callback
                del self._timeouts[p]
                cb(p)
                fired += 1
        return fired

    def next_timeout(self) -> float | None:
        """When the earliest scheduled timeout is due (clock units), or None."""
        return min((when for when, _, _ in self._timeouts.values()), default=None)
