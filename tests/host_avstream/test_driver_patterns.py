"""The published samples' patterns run on the model (kernel-streaming.md B3 DMA pattern, B4 values):
an avshws-like capture pin with scatter/gather clones and a common-buffer copy pin."""

from __future__ import annotations

from collections import deque

import pytest

from host.avstream import (
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    AllocatorRequirement,
    CommonBufferAllocator,
    Dataflow,
    DmaAdapter,
    FileAlignment,
    KsState,
    NtStatus,
    Pin,
    StreamFrame,
    StreamHeaderFlags,
    StreamPointer,
    simple_framing,
)
from host.avstream.selection import Connection, select_allocator

from .helpers import walk

IMAGE = 320 * 240 * 2


class FakeCapture:
    """Hardware with a bounded queue of programmed clones; an interrupt completes the oldest."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.programmed: deque[StreamPointer] = deque()
        self.frame_number = 0

    def process(self, pin: Pin) -> NtStatus:
        """avshws: lock leading edge, clone, program hardware, advance; full queue -> PENDING."""
        leading = pin.get_leading_edge()
        while leading is not None:
            if len(self.programmed) == self.slots:
                return NtStatus.STATUS_PENDING
            clone = leading.clone()
            assert [m.byte_count for m in clone.offset.mappings]  # the hardware gets the mappings
            self.programmed.append(clone)
            if leading.advance() == NtStatus.STATUS_DEVICE_NOT_READY:
                return NtStatus.STATUS_SUCCESS  # avshws maps DEVICE_NOT_READY to SUCCESS
        return NtStatus.STATUS_SUCCESS

    def interrupt(self, pin: Pin) -> None:
        """Completion walks clones oldest first, stamps the header, deletes, attempts processing."""
        clone = self.programmed.popleft()
        header = clone.header
        header.data_used = IMAGE
        header.presentation_time = self.frame_number * 333_333
        header.duration = 333_333
        header.options_flags |= StreamHeaderFlags.TIMEVALID | StreamHeaderFlags.DURATIONVALID
        self.frame_number += 1
        clone.unlock()
        clone.delete()
        pin.attempt_processing()


@pytest.mark.spec("B4")
def test_avshws_capture_pin_on_a_common_buffer_allocator() -> None:
    framing = simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED,
                             AllocatorRequirement.SYSTEM_MEMORY | AllocatorRequirement.PREFERENCES_ONLY,
                             2, FileAlignment.BYTE, IMAGE, IMAGE)
    vendor = CommonBufferAllocator(4 * IMAGE, physical_base=0x8000_0000)
    decision = select_allocator(Connection(framing), [vendor])
    assert decision.allocator is vendor and decision.frames == 2
    decision.initialize("capture pin")
    hw = FakeCapture(slots=2)
    done: list[StreamFrame] = []
    pin = Pin(hw.process, dataflow=Dataflow.OUT, process_in_run_state_only=True, dma=DmaAdapter(4096),
              on_complete=done.append)
    walk(pin, KsState.PAUSE)
    for _ in range(2):
        frame = vendor.allocate()
        assert frame is not None
        pin.submit(frame)
    assert hw.programmed == deque() and pin.process_calls == 0  # not before RUN
    pin.set_state(KsState.RUN)
    assert len(hw.programmed) == 2 and vendor.free_count == 0
    for n in range(6):
        hw.interrupt(pin)
        assert done[-1].header.presentation_time == n * 333_333 and done[-1].header.data_used == IMAGE
        frame = vendor.allocate()  # the completed frame went back to the allocator; resubmit it
        assert frame is not None
        pin.submit(frame)
        assert len(hw.programmed) == 2
    assert [sf.seq for sf in done] == list(range(6))
    walk(pin, KsState.STOP)
    assert vendor.free_count == 2 and pin.queued == 0 and not pin.clones
    vendor.delete()


@pytest.mark.spec("B3", "B4")
def test_common_buffer_dma_copy_unlock_eject_and_pending() -> None:
    """Common-buffer DMA: copy into the leading frame, Unlock(Eject), return PENDING; a timer at
    the frame interval drives processing (avssamp)."""
    ring = deque(bytes([i]) * 100 for i in range(5))  # what the hardware wrote into its common buffer

    def process(pin: Pin) -> NtStatus:
        leading = pin.get_leading_edge()
        if leading is None or not ring:
            return NtStatus.STATUS_PENDING
        chunk = ring.popleft()
        leading.offset.data[:len(chunk)] = chunk
        leading.header.data_used = len(chunk)
        leading.unlock(eject=True)
        return NtStatus.STATUS_PENDING

    done: list[StreamFrame] = []
    pin = Pin(process, dataflow=Dataflow.OUT, on_complete=done.append)
    walk(pin, KsState.ACQUIRE)
    buffers = [bytearray(128) for _ in range(5)]
    for b in buffers:
        pin.submit(b)
    walk(pin, KsState.RUN)
    assert len(done) == 1  # reaching PAUSE with frames queued processed once; then PENDING
    for _ in range(4):
        pin.attempt_processing()  # the timer
    assert [bytes(sf.data) for sf in done] == [bytes([i]) * 100 for i in range(5)]
    assert all(sf.buffer.obj is b for sf, b in zip(done, buffers, strict=True))  # zero-copy
    walk(pin, KsState.STOP)


@pytest.mark.spec("B4")
@pytest.mark.parametrize(("sample", "frames", "size"), [
    ("avshws capture pin", 2, IMAGE), ("avssamp audio pin", 25, 1764), ("avscamera video pin", 2, IMAGE),
    ("avscamera still-image pin", 4, IMAGE)])
def test_sample_framings_get_their_frames(sample: str, frames: int, size: int) -> None:
    """B4: the samples' framing (KERNEL_NONPAGED, SYSTEM_MEMORY | PREFERENCES_ONLY, byte alignment,
    Min = Max = the frame size, 2 / 25 / 4 frames) gets exactly that many frames of that size from
    the default allocator selection falls back to."""
    framing = simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED,
                             AllocatorRequirement.SYSTEM_MEMORY | AllocatorRequirement.PREFERENCES_ONLY,
                             frames, FileAlignment.BYTE, size, size)
    decision = select_allocator(Connection(framing))
    ctx = decision.initialize(sample)
    assert decision.is_default and (ctx.frames, ctx.frame_size) == (frames, size)
    taken = [decision.allocator.allocate() for _ in range(frames)]
    assert all(f is not None and len(f) == size for f in taken) and decision.allocator.allocate() is None
    for f in taken:
        assert f is not None
        decision.allocator.free(f)
    decision.allocator.delete()
