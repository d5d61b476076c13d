"""Pins and stream pointers (kernel-streaming.md B3): edges, lock/advance/offsets, clones, cancel,
timeouts, processing triggers, states and DMA mappings."""

from __future__ import annotations

import pytest

from host.avstream import (
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    AllocatorMisuse,
    CommonBufferAllocator,
    Dataflow,
    DmaAdapter,
    KsState,
    NtStatus,
    Pin,
    ProcessingStalled,
    StreamFrame,
    StreamPointer,
    StreamPointerError,
    simple_framing,
)

from .helpers import FakeClock, allocator, walk

pytestmark = pytest.mark.spec("B3")


def pending(pin: Pin) -> NtStatus:
    return NtStatus.STATUS_PENDING


def running(**kwargs: object) -> tuple[Pin, list[StreamFrame]]:
    done: list[StreamFrame] = []
    kwargs.setdefault("process", pending)
    pin = Pin(on_complete=done.append, **kwargs)  # type: ignore[arg-type]
    walk(pin, KsState.RUN)
    return pin, done


def leading(pin: Pin, locked: bool = True) -> StreamPointer:
    sp = pin.get_leading_edge(locked)
    assert sp is not None
    return sp


def test_leading_edge_placed_only_on_arrival_into_empty_queue() -> None:
    """"KsPinGetLeadingEdgeStreamPointer function": LOCKED returns NULL when no frame is at the edge,
    UNLOCKED returns the edge regardless (it used to return None); a locked Advance past the end is
    DEVICE_NOT_READY ("KsStreamPointerAdvance function")."""
    pin, _ = running()
    assert pin.get_leading_edge() is None
    f0 = pin.submit(bytearray(8))
    f1 = pin.submit(bytearray(8))
    sp = leading(pin)
    assert sp.frame is f0 and sp.locked  # a second arrival does not move it
    assert sp.advance() == NtStatus.STATUS_SUCCESS and sp.frame is f1 and sp.locked  # unlock, move, relock
    assert sp.advance() == NtStatus.STATUS_DEVICE_NOT_READY and sp.frame is None and not sp.locked
    assert (sp.offset.count, sp.offset.remaining) == (0, 0)
    assert pin.get_leading_edge() is None
    assert pin.get_leading_edge(locked=False) is sp and sp.frame is None  # UNLOCKED: returned regardless
    f2 = pin.submit(bytearray(8))
    assert leading(pin).frame is f2
    leading(pin).advance()
    assert [f.status for f in (f0, f1, f2)] == [NtStatus.STATUS_SUCCESS] * 3


def test_unlocked_edge_request_unlocks() -> None:
    pin, _ = running()
    pin.submit(bytearray(8))
    sp = leading(pin)
    assert sp.locked and sp.frame is not None and sp.frame.locks == 1
    assert leading(pin, locked=False) is sp and not sp.locked and sp.frame.locks == 0
    with pytest.raises(StreamPointerError, match="not locked"):
        sp.unlock()


def test_advance_offsets_needs_lock_moves_at_zero_and_never_crosses_a_frame() -> None:
    """"KsStreamPointerAdvanceOffsets function": DEVICE_NOT_READY when the pointer was not locked at
    call time (it used to raise StreamPointerError)."""
    pin, done = running(dataflow=Dataflow.IN)
    f0 = pin.submit(bytearray(b"abcdef"))
    f1 = pin.submit(bytearray(b"ghij"))
    sp = leading(pin, locked=False)
    assert sp.advance_offsets(1, 0) == NtStatus.STATUS_DEVICE_NOT_READY
    assert sp.frame is f0 and (sp.offset.count, sp.offset.remaining) == (6, 6)  # nothing moved
    sp.lock()
    assert sp.offset is sp.offset_in and (sp.offset.count, sp.offset.remaining) == (6, 6)
    assert bytes(sp.offset.data) == b"abcdef"
    assert sp.advance_offsets(4, 0) == NtStatus.STATUS_SUCCESS and bytes(sp.offset.data) == b"ef"
    with pytest.raises(StreamPointerError, match="more than one frame"):
        sp.advance_offsets(3, 0)
    assert sp.advance_offsets(2, 0) == NtStatus.STATUS_SUCCESS
    assert sp.frame is f1 and sp.locked and done == [f0]
    assert sp.advance_offsets(1, 0, eject=True) == NtStatus.STATUS_DEVICE_NOT_READY
    assert done == [f0, f1]


def test_output_pin_offsets_leave_data_used_to_the_minidriver() -> None:
    """"KSSTREAM_HEADER structure": AVStream sets DataUsed only with KSPIN_FLAG_GENERATE_MAPPINGS;
    otherwise the minidriver sets it (the model used to add OutUsed to DataUsed here)."""
    pin, done = running(dataflow=Dataflow.OUT)
    f0 = pin.submit(bytearray(10))
    sp = leading(pin)
    assert sp.offset is sp.offset_out and sp.offset.count == 10 and f0.header.data_used == 0
    sp.offset.data[:4] = b"wxyz"
    sp.advance_offsets(0, 4)
    assert f0.header.data_used == 0 and sp.offset.remaining == 6
    sp.header.data_used = 4  # the minidriver's job without mappings
    sp.advance_offsets(0, 0, eject=True)
    assert done == [f0] and bytes(f0.data) == b"wxyz" and f0.header.data_used == 4


def test_any_buffer_is_seen_as_bytes() -> None:
    import array

    pin, done = running(dataflow=Dataflow.IN)
    # Pin.submit is annotated Frame | memoryview | bytearray but takes any buffer, which is what this checks.
    sf = pin.submit(array.array("I", [1, 2, 3]))  # type: ignore[arg-type]
    assert sf.header.frame_extent == 12 and sf.header.data_used == 12 and sf.buffer.format == "B"
    leading(pin).advance()
    assert done == [sf]


def test_unlock_eject_moves_on() -> None:
    pin, done = running()
    f0 = pin.submit(bytearray(4))
    f1 = pin.submit(bytearray(4))
    sp = leading(pin)
    assert sp.unlock(eject=True) == NtStatus.STATUS_SUCCESS and sp.frame is f1 and not sp.locked
    assert done == [f0]


def test_clone_keeps_frame_lock_and_offsets_and_holds_the_frame() -> None:
    pin, done = running(dataflow=Dataflow.IN)
    f0 = pin.submit(bytearray(8))
    sp = leading(pin)
    sp.advance_offsets(3, 0)
    clone = sp.clone(context="dma")
    assert clone.frame is f0 and clone.locked and clone.offset.remaining == 5 and clone.context == "dma"
    assert f0.refs == 2 and f0.locks == 2
    sp.advance()  # the leading edge leaves; the clone still holds f0
    assert done == [] and f0.refs == 1
    clone.unlock()
    clone.delete()
    assert done == [f0] and f0.status == NtStatus.STATUS_SUCCESS
    with pytest.raises(StreamPointerError, match="use of a deleted clone"):
        clone.lock()


def test_edges_cannot_be_deleted() -> None:
    pin, _ = running(distinct_trailing_edge=True)
    pin.submit(bytearray(4))
    with pytest.raises(StreamPointerError, match="leading edge cannot be deleted"):
        leading(pin).delete()
    trailing = pin.get_trailing_edge()
    assert trailing is not None
    with pytest.raises(StreamPointerError, match="trailing edge cannot be deleted"):
        trailing.delete()


def test_no_trailing_edge_without_the_flag() -> None:
    """"KsPinGetTrailingEdgeStreamPointer function": NULL when there is no trailing edge (it used to
    raise StreamPointerError)."""
    pin, _ = running()
    assert pin.get_trailing_edge() is None and pin.get_trailing_edge(locked=False) is None
    pin.submit(bytearray(4))
    assert pin.get_trailing_edge() is None
    leading(pin).advance()


def test_distinct_trailing_edge_holds_frames_between_edges() -> None:
    pin, done = running(distinct_trailing_edge=True)
    frames = [pin.submit(bytearray(4)) for _ in range(3)]
    lead = leading(pin, locked=False)
    lead.advance()
    lead.advance()
    assert lead.frame is frames[2] and done == []  # frames 0 and 1 are held between the edges
    trailing = pin.get_trailing_edge(locked=False)
    assert trailing is not None and trailing.frame is frames[0]
    assert pin.cancel(frames[1])  # held frames are unlocked, hence cancellable
    assert done == [frames[1]] and frames[1].status == NtStatus.STATUS_CANCELLED
    assert trailing.advance() == NtStatus.STATUS_SUCCESS and trailing.frame is frames[2]
    assert done == [frames[1], frames[0]]
    # The trailing edge never passes the leading one; an unlocked advance still returns SUCCESS
    # ("KsStreamPointerAdvance function"), and a locked one DEVICE_NOT_READY.
    assert trailing.advance() == NtStatus.STATUS_SUCCESS and trailing.frame is frames[2]
    assert trailing.lock() == NtStatus.STATUS_SUCCESS
    assert trailing.advance() == NtStatus.STATUS_DEVICE_NOT_READY and trailing.frame is frames[2]
    trailing.unlock()
    lead.advance()
    assert done[-1:] != [frames[2]]  # the trailing edge still holds it
    trailing.advance()
    assert done[-1] is frames[2]


def test_cancel_rules() -> None:
    pin, done = running()
    f0 = pin.submit(bytearray(4))
    f1 = pin.submit(bytearray(4))
    sp = leading(pin)
    assert not pin.cancel(f0)  # locked frames cannot be cancelled
    clone = sp.clone()
    sp.unlock()
    clone.unlock()
    assert pin.cancel(f0)
    assert leading(pin, locked=False).frame is f1  # AVStream moves the leading edge off a cancelled frame
    assert clone.lock() == NtStatus.STATUS_DEVICE_NOT_READY
    assert done == []
    clone.delete()
    assert done == [f0] and f0.status == NtStatus.STATUS_CANCELLED
    assert not pin.cancel(f0)  # already completed
    other, _ = running()
    assert not other.cancel(f1)  # not its frame
    pin.set_state(KsState.PAUSE)


def test_unlocked_advance_always_succeeds() -> None:
    """"KsStreamPointerAdvance function": advancing an unlocked pointer "always succeeds and returns
    STATUS_SUCCESS"; a lock tells whether it is on a frame (the model used to return
    DEVICE_NOT_READY past the end, and a test asserted it)."""
    pin, done = running()
    f0 = pin.submit(bytearray(4))
    sp = leading(pin, locked=False)
    assert sp.advance() == NtStatus.STATUS_SUCCESS and sp.frame is None and done == [f0]
    assert sp.lock() == NtStatus.STATUS_DEVICE_NOT_READY
    assert sp.advance() == NtStatus.STATUS_SUCCESS  # still on no frame: still SUCCESS


def test_clone_cancel_callback_runs_when_its_frame_is_cancelled() -> None:
    """"KsStreamPointerClone function": AVStream calls the clone's CancelCallback when the IRP is
    cancelled; "PFNKSSTREAMPOINTER callback function": the callback deletes the clone, and the IRP
    then completes. A clone without a callback (or whose callback keeps it) holds the IRP pending."""
    pin, done = running()
    f0 = pin.submit(bytearray(4))
    pin.submit(bytearray(4))
    edge = leading(pin)
    called: list[StreamPointer] = []

    def on_cancel(clone: StreamPointer) -> None:
        called.append(clone)
        clone.delete()

    first = edge.clone(cancel_callback=on_cancel)
    kept = edge.clone(cancel_callback=called.append)  # does not delete: the IRP stays pending
    plain = edge.clone()
    for p in (first, kept, plain):
        p.unlock()
    edge.unlock()
    assert pin.cancel(f0)
    assert called == [first, kept] and first.deleted and not kept.deleted
    assert done == []  # `kept` and `plain` still reference it
    kept.delete()
    plain.delete()
    assert done == [f0] and f0.status == NtStatus.STATUS_CANCELLED
    leading(pin).advance()


def test_timeouts_follow_the_injected_clock() -> None:
    """"KsStreamPointerScheduleTimeout function": the interval is in 100 ns units (it used to be
    seconds of the injected clock) and a new timeout replaces the scheduled one."""
    clock = FakeClock()
    pin, _ = running(clock=clock)
    pin.submit(bytearray(4))
    clone = leading(pin).clone()
    fired: list[str] = []
    clone.schedule_timeout(lambda p: fired.append("first"), 10_000_000)  # 100 ns units: 1 s
    clone.schedule_timeout(lambda p: fired.append("second"), 20_000_000)  # replaces the first
    clock.now = 1.5
    assert pin.run_timeouts() == 0 and fired == []
    assert pin.next_timeout() == 2.0
    clock.now = 2.0
    assert pin.run_timeouts() == 1 and fired == ["second"]
    clone.schedule_timeout(lambda p: fired.append("third"), 10_000_000)
    with pytest.raises(TypeError, match="100 ns units"):
        clone.schedule_timeout(lambda p: None, 1.0)  # type: ignore[arg-type]  # seconds are refused
    assert clone.cancel_timeout() and not clone.cancel_timeout()
    clock.now = 10
    assert pin.run_timeouts() == 0 and fired == ["second"]
    clone.delete()
    leading(pin).advance()


def test_timeouts_fire_in_deadline_then_scheduling_order() -> None:
    clock = FakeClock()
    pin, _ = running(clock=clock)
    pin.submit(bytearray(4))
    edge = leading(pin)
    a, b, c = edge.clone(), edge.clone(), edge.clone()
    fired: list[str] = []

    def fire_a_and_cancel_c(p: StreamPointer) -> None:
        fired.append("a")
        c.cancel_timeout()

    b.schedule_timeout(lambda p: fired.append("b"), 10_000_000)
    a.schedule_timeout(fire_a_and_cancel_c, 10_000_000)
    c.schedule_timeout(lambda p: fired.append("c"), 5_000_000)
    clock.now = 0.7
    assert pin.run_timeouts() == 1 and fired == ["c"]
    c.schedule_timeout(lambda p: fired.append("c again"), 3_000_000)  # due at 1.0, scheduled last
    clock.now = 1.0
    assert pin.run_timeouts() == 2 and fired == ["c", "b", "a"]  # a's callback cancelled c's
    for clone in (a, b, c):
        clone.delete()
    edge.advance()


def test_processing_triggers() -> None:
    calls: list[int] = []

    def process(pin: Pin) -> NtStatus:
        calls.append(pin.queued)
        return NtStatus.STATUS_PENDING

    pin = Pin(process)
    walk(pin, KsState.PAUSE)
    assert calls == []  # nothing queued
    f0 = pin.submit(bytearray(4))
    assert calls == [1]  # arrival with nothing at or ahead of the leading edge
    pin.submit(bytearray(4))
    assert calls == [1]  # the leading edge is on f0: the driver must attempt_processing
    pin.attempt_processing()
    assert calls == [1, 2]
    pin.close_gate()
    pin.attempt_processing()
    pin.submit(bytearray(4))
    assert calls == [1, 2]  # never while the gate is closed
    pin.open_gate()
    assert calls == [1, 2, 3]
    walk(pin, KsState.ACQUIRE)
    pin.attempt_processing()
    assert calls == [1, 2, 3]  # below the minimum processing state
    walk(pin, KsState.PAUSE)
    assert calls == [1, 2, 3, 3]  # reaching the minimum state with frames queued
    pin.set_state(KsState.RUN)
    assert calls == [1, 2, 3, 3]  # moving on above the minimum state is not a trigger
    assert f0.status == NtStatus.STATUS_PENDING
    walk(pin, KsState.STOP)


def test_process_in_run_state_only() -> None:
    calls: list[KsState] = []

    def process(p: Pin) -> NtStatus:
        calls.append(p.state)
        return NtStatus.STATUS_PENDING

    pin = Pin(process, process_in_run_state_only=True)
    walk(pin, KsState.PAUSE)
    pin.submit(bytearray(4))
    assert calls == []
    pin.set_state(KsState.RUN)
    assert calls == [KsState.RUN]
    walk(pin, KsState.STOP)


def test_success_means_call_again_until_the_queue_is_drained() -> None:
    def process(pin: Pin) -> NtStatus:
        sp = pin.get_leading_edge()
        if sp is None:
            return NtStatus.STATUS_PENDING
        sp.advance()
        return NtStatus.STATUS_SUCCESS

    pin = Pin(process)
    walk(pin, KsState.ACQUIRE)
    for _ in range(5):
        pin.submit(bytearray(4))
    pin.set_state(KsState.PAUSE)
    assert pin.completed == 5 and pin.process_calls == 5


def test_success_without_progress_is_detected() -> None:
    pin = Pin(lambda p: NtStatus.STATUS_SUCCESS, stall_limit=4)
    walk(pin, KsState.PAUSE)
    with pytest.raises(ProcessingStalled, match="SUCCESS 4 times in a row without progress"):
        pin.submit(bytearray(4))
    assert pin.process_calls == 4
    reporting = Pin(lambda p: NtStatus.STATUS_SUCCESS, on_stall="report")
    walk(reporting, KsState.PAUSE)
    reporting.submit(bytearray(4))
    assert reporting.process_calls == 3 and len(reporting.stalls) == 1
    walk(pin, KsState.STOP)
    walk(reporting, KsState.STOP)


def test_state_jumps_step_through_intermediate_states() -> None:
    """"PFNKSPINSETDEVICESTATE callback function": a standard-transport pin's SetDeviceState sees no
    transition of more than one step (a jump used to raise StateTransitionError)."""
    seen: list[tuple[KsState, KsState]] = []

    def record(pin: Pin, to: KsState, frm: KsState) -> NtStatus:
        seen.append((frm, to))
        return NtStatus.STATUS_SUCCESS

    pin = Pin(pending, set_state=record)
    states: list[KsState] = []
    for target in (KsState.RUN, KsState.STOP):
        assert pin.set_state(target) == NtStatus.STATUS_SUCCESS
        states.append(pin.state)
    assert states == [KsState.RUN, KsState.STOP]
    S = KsState
    assert seen == [(S.STOP, S.ACQUIRE), (S.ACQUIRE, S.PAUSE), (S.PAUSE, S.RUN),
                    (S.RUN, S.PAUSE), (S.PAUSE, S.ACQUIRE), (S.ACQUIRE, S.STOP)]
    assert pin.set_state(KsState.STOP) == NtStatus.STATUS_SUCCESS and len(seen) == 6


def test_non_standard_transport_sees_the_jump() -> None:
    """"PFNKSPINSETDEVICESTATE callback function": a pin without the standard transport receives
    unfiltered changes and must cope with a jump such as RUN -> STOP; STOP still flushes."""
    seen: list[tuple[KsState, KsState]] = []

    def record(pin: Pin, to: KsState, frm: KsState) -> NtStatus:
        seen.append((frm, to))
        return NtStatus.STATUS_SUCCESS

    done: list[StreamFrame] = []
    pin = Pin(pending, set_state=record, standard_transport=False, on_complete=done.append)
    pin.set_state(KsState.RUN)
    sf = pin.submit(bytearray(4))
    pin.set_state(KsState.STOP)
    assert seen == [(KsState.STOP, KsState.RUN), (KsState.RUN, KsState.STOP)] and done == [sf]


def test_state_callback_can_refuse() -> None:
    def refuse_pause(pin: Pin, to: KsState, frm: KsState) -> NtStatus:
        return NtStatus.STATUS_UNSUCCESSFUL if to == KsState.PAUSE else NtStatus.STATUS_SUCCESS

    pin = Pin(pending, set_state=refuse_pause)
    pin.set_state(KsState.ACQUIRE)
    assert pin.set_state(KsState.PAUSE) == NtStatus.STATUS_UNSUCCESSFUL and pin.state == KsState.ACQUIRE
    pin.set_state(KsState.STOP)
    # A walk stops at the refused step and returns its status.
    assert pin.set_state(KsState.RUN) == NtStatus.STATUS_UNSUCCESSFUL and pin.state == KsState.ACQUIRE


def test_stop_flushes_to_the_allocator_with_data_used_zero() -> None:
    a = allocator(frames=4)
    pin, done = running(dataflow=Dataflow.IN)
    frames = [a.allocate() for _ in range(3)]
    queued = [pin.submit(f) for f in frames if f is not None]
    clone = leading(pin).clone()
    assert a.free_count == 1
    walk(pin, KsState.STOP)
    assert done == queued
    assert all(q.header.data_used == 0 and q.status == NtStatus.STATUS_SUCCESS for q in queued)
    assert a.free_count == 4 and pin.queued == 0 and clone.deleted
    with pytest.raises(StreamPointerError):
        clone.delete()
    late = a.allocate()
    assert late is not None
    assert pin.submit(late).status == NtStatus.STATUS_INVALID_DEVICE_STATE and a.free_count == 4
    a.delete()


def test_frames_go_back_to_their_allocator_once_complete() -> None:
    a = allocator(frames=2)
    pin, _ = running()
    f = a.allocate()
    assert f is not None
    pin.submit(f)
    assert a.free_count == 1
    leading(pin).advance()
    assert a.free_count == 2
    a.delete()


def test_submitting_a_free_frame_is_caught_in_checked_mode() -> None:
    a = allocator(frames=1)
    f = a.allocate()
    assert f is not None
    a.free(f)
    pin, _ = running()
    with pytest.raises(AllocatorMisuse, match="free in its allocator"):
        pin.submit(f)
    a.delete()


def test_dma_mappings_split_frames() -> None:
    a = CommonBufferAllocator(16384, physical_base=0x4000_0000)
    a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 2, 0, 5000, 5000))
    pin, done = running(dma=DmaAdapter(2048))
    f = a.allocate()
    assert f is not None
    sf = pin.submit(f)
    assert [m.byte_count for m in sf.mappings] == [2048, 2048, 904]
    assert [m.physical_address for m in sf.mappings] == [f.physical_address + o for o in (0, 2048, 4096)]
    assert sf.mappings[0].alignment == 4096 and sf.mappings[1].alignment == 2048  # bytes
    sp = leading(pin)
    assert sp.offset.count == 3 and len(sp.offset.mappings) == 3
    with pytest.raises(StreamPointerError, match=r"use \.mappings"):
        _ = sp.offset.data
    sp.advance_offsets(0, 2)
    assert sf.header.data_used == 4096 and len(sp.offset.mappings) == 1
    sp.advance_offsets(0, 1)
    assert done == [sf] and sf.header.data_used == 5000
    a.delete()


def test_status_codes_are_ntstatus() -> None:
    assert int(NtStatus.STATUS_SUCCESS) == 0 and int(NtStatus.STATUS_PENDING) == 0x103
    assert int(NtStatus.STATUS_DEVICE_NOT_READY) == 0xC00000A3
    assert int(NtStatus.STATUS_CANCELLED) == 0xC0000120
    assert int(NtStatus.STATUS_BUFFER_OVERFLOW) == 0x80000005
    assert int(NtStatus.STATUS_BUFFER_TOO_SMALL) == 0xC0000023
    assert int(NtStatus.STATUS_NOT_FOUND) == 0xC0000225
    assert NtStatus.STATUS_BUFFER_OVERFLOW.is_success is False and NtStatus.STATUS_PENDING.is_success
