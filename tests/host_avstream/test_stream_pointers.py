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
    StateTransitionError,
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
    pin, done = running(dataflow=Dataflow.IN)
    f0 = pin.submit(bytearray(b"abcdef"))
    f1 = pin.submit(bytearray(b"ghij"))
    sp = leading(pin, locked=False)
    with pytest.raises(StreamPointerError, match="needs a locked pointer"):
        sp.advance_offsets(1, 0)
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


def test_output_pin_offsets_fill_data_used() -> None:
    pin, done = running(dataflow=Dataflow.OUT)
    f0 = pin.submit(bytearray(10))
    sp = leading(pin)
    assert sp.offset is sp.offset_out and sp.offset.count == 10 and f0.header.data_used == 0
    sp.offset.data[:4] = b"wxyz"
    sp.advance_offsets(0, 4)
    assert f0.header.data_used == 4 and sp.offset.remaining == 6
    sp.advance_offsets(0, 0, eject=True)
    assert done == [f0] and bytes(f0.data) == b"wxyz"


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
    pin, _ = running()
    with pytest.raises(StreamPointerError, match="no distinct trailing edge"):
        pin.get_trailing_edge()


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
    # The trailing edge never passes the leading one.
    assert trailing.advance() == NtStatus.STATUS_DEVICE_NOT_READY and trailing.frame is frames[2]
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


def test_timeouts_follow_the_injected_clock() -> None:
    clock = FakeClock()
    pin, _ = running(clock=clock)
    pin.submit(bytearray(4))
    clone = leading(pin).clone()
    fired: list[str] = []
    clone.schedule_timeout(lambda p: fired.append("first"), 1.0)
    clone.schedule_timeout(lambda p: fired.append("second"), 2.0)  # replaces the first
    clock.now = 1.5
    assert pin.run_timeouts() == 0 and fired == []
    assert pin.next_timeout() == 2.0
    clock.now = 2.0
    assert pin.run_timeouts() == 1 and fired == ["second"]
    clone.schedule_timeout(lambda p: fired.append("third"), 1.0)
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

    b.schedule_timeout(lambda p: fired.append("b"), 1.0)
    a.schedule_timeout(fire_a_and_cancel_c, 1.0)
    c.schedule_timeout(lambda p: fired.append("c"), 0.5)
    clock.now = 0.7
    assert pin.run_timeouts() == 1 and fired == ["c"]
    c.schedule_timeout(lambda p: fired.append("c again"), 0.3)  # due at 1.0, scheduled last
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


def test_state_jumps_raise() -> None:
    pin = Pin(pending)
    with pytest.raises(StateTransitionError, match="STOP -> PAUSE skips a state"):
        pin.set_state(KsState.PAUSE)
    walk(pin, KsState.RUN)
    with pytest.raises(StateTransitionError, match="RUN -> ACQUIRE"):
        pin.set_state(KsState.ACQUIRE)
    assert pin.set_state(KsState.RUN) == NtStatus.STATUS_SUCCESS


def test_state_callback_can_refuse() -> None:
    def refuse_pause(pin: Pin, to: KsState, frm: KsState) -> NtStatus:
        return NtStatus.STATUS_UNSUCCESSFUL if to == KsState.PAUSE else NtStatus.STATUS_SUCCESS

    pin = Pin(pending, set_state=refuse_pause)
    pin.set_state(KsState.ACQUIRE)
    assert pin.set_state(KsState.PAUSE) == NtStatus.STATUS_UNSUCCESSFUL and pin.state == KsState.ACQUIRE


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
