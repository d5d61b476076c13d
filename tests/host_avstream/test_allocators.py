"""Allocators (kernel-streaming.md B2): dispatch contract, default allocator, common-buffer allocator."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from host.avstream import (
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    AllocatorFlag,
    AllocatorFramingEx,
    AllocatorInitError,
    AllocatorMisuse,
    FileAlignment,
    FrameLeak,
    FramingRange,
    NtStatus,
    simple_framing,
)
from host.avstream.allocators import (
    AllocatorDispatch,
    CommonBufferAllocator,
    DefaultAllocator,
    Frame,
    buffer_address,
)

pytestmark = pytest.mark.spec("B2")


def ready(frames: int = 4, alignment: int = FileAlignment.BYTES_64, size: int = 1000) -> DefaultAllocator:
    a = DefaultAllocator()
    a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, frames, alignment, size, size))
    return a


def test_default_allocator_honours_count_size_and_alignment() -> None:
    a = ready(frames=4, alignment=FileAlignment.BYTES_512, size=1000)
    frames = [a.allocate() for _ in range(4)]
    assert all(f is not None for f in frames)
    got = [f for f in frames if f is not None]
    assert [len(f.buffer) for f in got] == [1000] * 4
    assert all(f.address % 512 == 0 for f in got)
    assert len({f.index for f in got}) == 4
    assert a.allocate() is None and a.counters.failed_allocations == 1
    for f in got:
        a.free(f)
    a.delete()


def test_frames_are_zero_copy_views_of_one_buffer() -> None:
    a = ready(frames=2)
    f1, f2 = a.allocate(), a.allocate()
    assert f1 is not None and f2 is not None
    assert not f1.buffer.readonly and f1.buffer.obj is f2.buffer.obj
    owner = f1.buffer.obj
    assert isinstance(owner, bytearray)
    f1.buffer[:3] = b"abc"
    start = f1.address - buffer_address(owner)
    assert owner[start:start + 3] == b"abc"
    a.free(f1)
    a.free(f2)
    a.delete()


def test_no_frame_size_and_alignment_above_page_are_rejected() -> None:
    item = dataclasses.replace(simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 2, 0, 8, 8).items[0],
                               flags=AllocatorFlag.INDEPENDENT_RANGES, physical_range=FramingRange(16, 32, 1))
    with pytest.raises(AllocatorInitError, match="FrameSize is 0"):
        DefaultAllocator().initialize(None, AllocatorFramingEx((item,)))
    with pytest.raises(AllocatorInitError, match="alignment mask 0x1fff is above PAGE_SIZE-1") as info:
        DefaultAllocator().initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 2, 0x1FFF, 8, 8))
    assert info.value.status == NtStatus.STATUS_INVALID_PARAMETER


def test_frames_zero_means_default_count() -> None:
    a = DefaultAllocator(default_frames=5)
    ctx = a.initialize("pin", simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 0, 0, 16, 16))
    assert (ctx.frames, ctx.pin, a.frame_count) == (5, "pin", 5)
    a.delete()


def test_contract_no_use_after_delete_and_no_double_initialize() -> None:
    a = ready()
    with pytest.raises(AllocatorMisuse, match=r"initialize\(\) on an allocator that is initialized"):
        a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 1, 0, 8, 8))
    a.delete()
    with pytest.raises(AllocatorMisuse, match=r"allocate\(\) on an allocator that is deleted"):
        a.allocate()
    with pytest.raises(AllocatorMisuse, match=r"delete\(\) called twice"):
        a.delete()
    with pytest.raises(AllocatorMisuse, match="that is new"):
        DefaultAllocator().allocate()


def test_checked_mode_catches_double_free_foreign_and_free_after_delete() -> None:
    a, b = ready(), ready()
    f = a.allocate()
    g = b.allocate()
    assert f is not None and g is not None
    assert a.checked and b.checked  # the conftest turns checked mode on
    with pytest.raises(AllocatorMisuse, match="foreign frame"):
        a.free(g)
    a.free(f)
    with pytest.raises(AllocatorMisuse, match="double free of frame #"):
        a.free(f)
    b.free(g)
    b.delete()
    with pytest.raises(AllocatorMisuse, match="after delete"):
        b.free(g)
    a.delete()


def test_leak_reported_on_delete() -> None:
    a = ready()
    f = a.allocate()
    assert f is not None
    assert a.leaked_frames() == [f]
    with pytest.raises(FrameLeak, match=r"1 frame\(s\) outstanding") as caught:
        a.delete()
    assert "taken at" in str(caught.value) and "f = a.allocate()" in str(caught.value)  # where it was taken
    assert f.taken_at is not None and "test_leak_reported_on_delete" in str(f.taken_at)
    f.outstanding = False  # the allocator is gone; clear the books so the conftest sees no leak


def test_unchecked_mode_tolerates_free_after_delete() -> None:
    a = DefaultAllocator(checked=False)
    a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 1, 0, 8, 8))
    f = a.allocate()
    assert f is not None
    a.free(f)
    a.delete()
    a.free(f)  # dropped silently


def test_counters() -> None:
    a = ready(frames=2)
    f1, f2 = a.allocate(), a.allocate()
    assert f1 is not None and f2 is not None
    a.allocate()
    a.free(f1)
    a.free(f2)
    c = a.counters
    assert (c.allocations, c.frees, c.failed_allocations, c.high_water, c.outstanding) == (2, 2, 1, 2, 0)
    assert a.free_count == 2
    a.delete()


def test_wait_with_timeout_returns_none_then_free_wakes_a_waiter() -> None:
    a = ready(frames=1)
    held = a.allocate()
    assert held is not None
    assert a.allocate_wait(timeout=0.01) is None
    got: list[Frame | None] = []
    waiter = threading.Thread(target=lambda: got.append(a.allocate_wait(timeout=10)))
    waiter.start()
    a.free(held)
    waiter.join(timeout=10)
    assert not waiter.is_alive() and got and got[0] is held
    a.free(held)
    a.delete()


def test_irp_style_request_is_pending_until_free() -> None:
    a = ready(frames=1)
    held = a.allocate()
    assert held is not None
    got: list[Frame] = []
    assert a.request(got.append) == NtStatus.STATUS_PENDING
    assert a.counters.pending_requests == 1
    a.free(held)
    assert got == [held] and a.counters.pending_requests == 0 and a.free_count == 0
    assert a.cancel_request(got.append) is False
    a.free(held)
    assert a.request(got.append) == NtStatus.STATUS_SUCCESS
    a.free(got[-1])
    a.delete()


def test_pending_request_callback_runs_outside_the_lock() -> None:
    a = ready(frames=1)
    held = a.allocate()
    assert held is not None
    freed_again: list[Frame] = []

    def reentrant(frame: Frame) -> None:
        a.free(frame)  # would deadlock if called with the allocator's lock held
        freed_again.append(frame)

    assert a.request(reentrant) == NtStatus.STATUS_PENDING
    a.free(held)
    assert freed_again == [held] and a.free_count == 1
    a.delete()


def test_common_buffer_allocator_carves_one_contiguous_buffer() -> None:
    a = CommonBufferAllocator(64 * 1024, physical_base=0x2000_0000)
    a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 4, FileAlignment.BYTES_64,
                                      1000, 1000))
    frames = [a.allocate() for _ in range(4)]
    got = [f for f in frames if f is not None]
    assert len(got) == 4
    assert sorted(f.physical_address for f in got) == [0x2000_0000 + i * 1024 for i in range(4)]
    assert all(f.buffer.obj is got[0].buffer.obj for f in got)
    assert all(f.address % 64 == 0 for f in got)
    for f in got:
        a.free(f)
    a.delete()


def test_common_buffer_too_small_is_a_creation_error() -> None:
    a = CommonBufferAllocator(4096)
    with pytest.raises(AllocatorInitError, match="do not fit") as info:
        a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 8, 0, 1024, 1024))
    assert info.value.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert a.state == "new"


def test_dispatch_is_abstract() -> None:
    with pytest.raises(TypeError):
        AllocatorDispatch()  # type: ignore[abstract]
