"""Bounds on what a device's framing may make the host allocate (#9): a GET_FRAMING answer asking for
GiBs or billions of frames is refused with FramingLimitExceeded, naming the field and its value.

Every test here runs with aligned_region guarded, so a missing bound fails the test at once instead of
zero-filling gigabytes on the test host.
"""

from __future__ import annotations

import pytest

from host.avstream import (
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    AllocatorInitError,
    AvStreamError,
    FramingLimitExceeded,
    NtStatus,
    allocators,
    simple_framing,
)
from host.avstream.allocators import CommonBufferAllocator, DefaultAllocator

pytestmark = pytest.mark.spec("B2")

GUARD_BYTES = 16 << 20
"""No test here may ask aligned_region for more than this."""


@pytest.fixture(autouse=True)
def no_huge_regions(monkeypatch: pytest.MonkeyPatch) -> None:
    """aligned_region refuses sizes a bounded allocator would never ask for (before allocating)."""
    real = allocators.aligned_region

    def guarded(size: int, alignment_mask: int) -> tuple[bytearray, memoryview, int]:
        assert size <= GUARD_BYTES, f"the allocator asked for {size:#x} bytes: the bound is missing"
        return real(size, alignment_mask)

    monkeypatch.setattr(allocators, "aligned_region", guarded)


def test_three_gib_of_frames_is_refused() -> None:
    """simple_framing(KERNEL_NONPAGED, 0, 3, 3, 1, 0x40000000): 3 frames of 1 GiB."""
    framing = simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 3, 3, 1, 0x40000000)
    a = DefaultAllocator()
    with pytest.raises(FramingLimitExceeded, match=r"Frames x stride = 3221225472") as info:
        a.initialize(None, framing)
    error = info.value
    assert (error.field, error.value) == ("Frames x stride", 3 * 0x40000000)
    assert isinstance(error, AllocatorInitError) and isinstance(error, AvStreamError)
    assert error.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES and a.state == "new" and a.frame_count == 0


def test_ulong_max_frames_of_ulong_max_bytes_is_refused_not_an_overflow() -> None:
    """Frames = MaxFrameSize = 0xFFFFFFFF used to raise OverflowError from bytearray()."""
    framing = simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 0xFFFFFFFF, 0, 1, 0xFFFFFFFF)
    with pytest.raises(FramingLimitExceeded, match=r"Frames = 4294967295") as info:
        DefaultAllocator().initialize(None, framing)
    assert (info.value.field, info.value.value) == ("Frames", 0xFFFFFFFF)


def test_four_billion_one_byte_frames_are_refused() -> None:
    """Frames 0xFFFFFFFF of 1 byte: would build 4 billion Frame objects over a 4 GiB pool."""
    framing = simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 0xFFFFFFFF, 0, 1, 1)
    with pytest.raises(FramingLimitExceeded, match="Frames") as info:
        DefaultAllocator().initialize(None, framing)
    assert info.value.value == 0xFFFFFFFF


def test_common_buffer_beyond_the_limit_is_refused_before_it_exists() -> None:
    """A common buffer sized from such a framing (as the frame miniport's common_buffer_for does)."""
    with pytest.raises(FramingLimitExceeded, match="buffer_size") as info:
        CommonBufferAllocator(3 * 0x40000000, max_frames=3)
    assert (info.value.field, info.value.value) == ("buffer_size", 3 * 0x40000000)
    with pytest.raises(FramingLimitExceeded, match="max_frames"):
        CommonBufferAllocator(4096, max_frames=0xFFFFFFFF)


def test_limits_are_inclusive_and_checked_on_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    """With small limits: exactly at the limit is allowed, one frame or one stride more is refused."""
    monkeypatch.setattr(allocators, "MAX_FRAMES", 4)
    monkeypatch.setattr(allocators, "MAX_ALLOCATOR_BYTES", 8192)
    a = DefaultAllocator()
    a.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 4, 0, 2048, 2048))
    assert a.frame_count == 4
    a.delete()
    with pytest.raises(FramingLimitExceeded, match="Frames = 5"):
        DefaultAllocator().initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 5, 0, 16, 16))
    with pytest.raises(FramingLimitExceeded, match=r"Frames x stride = 12288") as info:
        DefaultAllocator().initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 3, 0, 4096,
                                                           4096))
    assert info.value.value == 12288
    # The stride includes alignment padding: 4 frames of 2000 bytes at 4096-byte alignment need 16384.
    with pytest.raises(FramingLimitExceeded, match=r"Frames x stride = 16384"):
        DefaultAllocator().initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 4, 0xFFF, 2000,
                                                           2000))
