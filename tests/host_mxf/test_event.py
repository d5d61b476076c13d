"""A1: DMUS_KERNEL_EVENT fields, sizes, flags and macros."""

from __future__ import annotations

import pytest

from host.mxf import event as ev
from host.mxf.allocator import AllocatorMXF
from host.mxf.event import KernelEvent

from .conftest import MakeAllocator


@pytest.mark.spec("A1")
@pytest.mark.parametrize(("pointer_size", "cb_struct"), [(4, 32), (8, 40)])
def test_cb_struct_follows_pointer_size(
    make_allocator: MakeAllocator, pointer_size: int, cb_struct: int
) -> None:
    """A1: cbStruct is 32 on x86 and 40 on x64; SHORT_EVT uses sizeof(PBYTE)."""
    alloc = make_allocator(pointer_size=pointer_size)
    evt = alloc.get_message()
    assert evt is not None
    assert evt.cb_struct == cb_struct
    assert evt.pointer_size == pointer_size
    evt.cb_event = pointer_size
    assert ev.SHORT_EVT(evt)
    evt.cb_event = pointer_size + 1
    assert not ev.short_evt(evt)
    evt.cb_event = 0
    alloc.put_message(evt)


@pytest.mark.spec("A2")
def test_zeroed_fields(alloc: AllocatorMXF) -> None:
    """A2: GetMessage returns a zeroed event (every DMUS_KERNEL_EVENT field)."""
    evt = alloc.get_message()
    assert evt is not None
    assert (evt.b_reserved, evt.cb_event, evt.us_channel_group, evt.us_flags) == (0, 0, 0, 0)
    assert (evt.ull_pres_time_100ns, evt.ull_byte_position, evt.p_next_evt) == (0, 0, None)
    assert evt.ab_data == bytes(8)
    assert evt.p_package_evt is None
    alloc.put_message(evt)


@pytest.mark.spec("A1")
def test_flag_constants_and_macros(alloc: AllocatorMXF) -> None:
    """A1: COMPLETE 0, INCOMPLETE 1, PACKAGE 2 and the SET/CLEAR/test macros."""
    assert (ev.DMUS_KEF_EVENT_COMPLETE, ev.DMUS_KEF_EVENT_INCOMPLETE, ev.DMUS_KEF_PACKAGE_EVENT) == (0, 1, 2)
    assert ev.kBytePositionNone == (1 << 64) - 1
    assert ev.DONT_HOLD_FOR_SEQUENCING == 0x8000000000000000
    evt = alloc.get_message()
    assert evt is not None
    assert ev.COMPLETE_EVT(evt) and not ev.INCOMPLETE_EVT(evt) and not ev.PACKAGE_EVT(evt)
    ev.SET_INCOMPLETE_EVT(evt)
    assert ev.incomplete_evt(evt) and not ev.complete_evt(evt)
    ev.SET_PACKAGE_EVT(evt)
    assert ev.package_evt(evt) and evt.us_flags == 3
    ev.SET_COMPLETE_EVT(evt)
    assert evt.us_flags == ev.DMUS_KEF_PACKAGE_EVENT
    ev.CLEAR_PACKAGE_EVT(evt)
    assert evt.us_flags == 0
    alloc.put_message(evt)


@pytest.mark.spec("A1")
def test_inline_versus_buffer_by_cb_event(alloc: AllocatorMXF) -> None:
    """A1: data is inline iff cbEvent <= pointer size, else in an allocator buffer."""
    short, long_ = alloc.get_message(), alloc.get_message()
    assert short is not None and long_ is not None
    alloc.set_data(short, b"\x90\x40\x7f")
    alloc.set_data(long_, b"\xf0" + bytes(10) + b"\xf7")
    assert short.u_data == b"\x90\x40\x7f" and short.ab_data == b"\x90\x40\x7f" + bytes(5)
    assert short.data == b"\x90\x40\x7f"
    assert len(long_.pb_data) == alloc.get_buffer_size()
    assert long_.data == b"\xf0" + bytes(10) + b"\xf7"
    assert alloc.stats().buffers_out == 1
    alloc.put_message(short)
    alloc.put_message(long_)
    assert alloc.stats().buffers_out == 0


@pytest.mark.spec("A1")
def test_accessors_reject_wrong_union_member(alloc: AllocatorMXF) -> None:
    """A1: the union member meant is decided by cbEvent; the accessors say when it contradicts."""
    evt = alloc.get_message()
    assert evt is not None
    with pytest.raises(TypeError, match="not a pbData buffer"):
        _ = evt.pb_data
    evt.cb_event = 20
    with pytest.raises(TypeError, match="means a pbData buffer"):
        _ = evt.data
    evt.cb_event = 0
    alloc.put_message(evt)


@pytest.mark.spec("A1", "A2")
def test_make_package_sets_cb_event_above_inline(alloc: AllocatorMXF) -> None:
    """A1/A2 [UNVERIFIED]: a package header's cbEvent exceeds the pointer size so its chain is found."""
    header, inner = alloc.get_message(), alloc.get_message()
    assert header is not None and inner is not None
    alloc.set_data(inner, b"\x90\x40\x7f")
    ev.make_package(header, inner)
    assert header.cb_event == 9 and header.p_package_evt is inner and ev.PACKAGE_EVT(header)
    with pytest.raises(TypeError, match="package header"):
        _ = header.data
    alloc.put_message(header)
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A1")
def test_make_package_rejects_bad_cb_event(alloc: AllocatorMXF) -> None:
    """A1: an explicit package cbEvent must exceed the pointer size."""
    header, inner = alloc.get_message(), alloc.get_message()
    assert header is not None and inner is not None
    with pytest.raises(ValueError, match="must exceed the pointer size"):
        ev.make_package(header, inner, cb_event=8)
    alloc.put_message(header)
    alloc.put_message(inner)


@pytest.mark.spec("A1")
def test_bad_pointer_size() -> None:
    """A1: only 4- and 8-byte pointers exist."""
    with pytest.raises(ValueError, match="pointer_size must be 4 or 8"):
        KernelEvent(pointer_size=2)
    with pytest.raises(ValueError, match="pointer_size must be 4 or 8"):
        AllocatorMXF(pointer_size=16)


@pytest.mark.spec("A1")
def test_chain_lists_events(alloc: AllocatorMXF) -> None:
    """A1: pNextEvt links identically time-stamped events."""
    a, b = alloc.get_message(), alloc.get_message()
    assert a is not None and b is not None
    a.p_next_evt = b
    assert a.chain() == [a, b]
    alloc.put_message(a)
