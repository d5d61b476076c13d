"""A2: IAllocatorMXF — pool, buffers, PutMessage reclamation, exhaustion, counters, checked mode."""

from __future__ import annotations

import itertools

import pytest

from host.ks.errors import PoolExhausted
from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf import event as ev
from host.mxf.allocator import AllocatorMXF
from host.mxf.allocator_checked import CheckedAllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.errors import (
    DoubleFree,
    ForeignEvent,
    InvalidEvent,
    LeakError,
    MxfError,
    UseAfterFree,
)
from host.mxf.event import KernelEvent

from .conftest import MakeAllocator


def take(alloc: AllocatorMXF) -> KernelEvent:
    """GetMessage that must succeed."""
    evt = alloc.get_message()
    assert evt is not None
    return evt


@pytest.mark.spec("A2")
def test_pool_is_prefilled(make_allocator: MakeAllocator) -> None:
    """A2: the pool never starts out empty: pool_size events are free before any PutMessage."""
    alloc = make_allocator(5)
    assert alloc.stats().free == 5
    events = [take(alloc) for _ in range(5)]
    assert len({id(e) for e in events}) == 5
    for e in events:
        alloc.put_message(e)


@pytest.mark.spec("A2")
def test_get_message_returns_zeroed_reused_event(alloc: AllocatorMXF) -> None:
    """A2: GetMessage returns a zeroed event from the pool that PutMessage refills."""
    evt = take(alloc)
    alloc.set_data(evt, b"\xf0" + bytes(20) + b"\xf7")
    evt.us_channel_group, evt.us_flags, evt.ull_pres_time_100ns, evt.ull_byte_position = 3, 1, 99, 7
    alloc.put_message(evt)
    again = take(alloc)
    assert again is evt  # LIFO reuse
    assert (again.cb_event, again.us_channel_group, again.us_flags) == (0, 0, 0)
    assert (again.ull_pres_time_100ns, again.ull_byte_position, again.u_data) == (0, 0, b"")
    alloc.put_message(again)


@pytest.mark.spec("A2")
@pytest.mark.parametrize("checked", [False, True])
@pytest.mark.parametrize("chained", [False, True])
def test_every_field_zeroed_on_reuse(checked: bool, chained: bool) -> None:
    """A2: whichever path PutMessage takes (single inline event or chain), GetMessage hands back zeros."""
    alloc = new_allocator(2, checked=checked)
    a, b = take(alloc), take(alloc)
    for evt, data in ((a, b"\x90\x40\x7f"), (b, b"\xf0" + bytes(20) + b"\xf7")):
        alloc.set_data(evt, data)
        evt.us_channel_group, evt.us_flags = 7, ev.DMUS_KEF_EVENT_INCOMPLETE
        evt.ull_pres_time_100ns, evt.ull_byte_position = 12345, ev.kBytePositionNone
    if chained:
        a.p_next_evt = b
        alloc.put_message(a)
    else:
        alloc.put_message(a)
        alloc.put_message(b)
    for evt in (take(alloc), take(alloc)):
        fields = (evt.b_reserved, evt.cb_event, evt.us_channel_group, evt.us_flags, evt.ull_pres_time_100ns)
        assert fields == (0, 0, 0, 0, 0)
        assert (evt.ull_byte_position, evt.p_next_evt, evt.u_data, evt.cb_struct) == (0, None, b"", 40)
        alloc.put_message(evt)
    alloc.assert_balanced()


@pytest.mark.spec("A2")
def test_put_message_reclaims_chain_and_buffers(alloc: AllocatorMXF) -> None:
    """A2: one PutMessage returns a whole pNextEvt chain and the buffers its events own."""
    events = [take(alloc) for _ in range(4)]
    for i, e in enumerate(events):
        alloc.set_data(e, bytes([0xF0]) + bytes(10 * i) + b"\xf7")
    for a, b in itertools.pairwise(events):
        a.p_next_evt = b
    assert alloc.stats().buffers_out == 3  # the first is 2 bytes: inline
    assert alloc.put_message(events[0]) == NtStatus.STATUS_SUCCESS
    st = alloc.stats()
    assert (st.outstanding, st.buffers_out, st.puts) == (0, 0, 4)


@pytest.mark.spec("A1", "A2")
def test_buffer_ownership_decided_by_cb_event_alone(alloc: AllocatorMXF) -> None:
    """A1/A2: an event with cbEvent <= pointer size owns no buffer, whatever uData once held."""
    evt = take(alloc)
    buf = alloc.get_buffer()
    assert buf is not None and len(buf) == alloc.get_buffer_size() == 4096
    evt.u_data = buf
    evt.cb_event = 100
    alloc.put_message(evt)
    assert alloc.stats().buffers_out == 0
    evt2 = take(alloc)
    buf2 = alloc.get_buffer()
    assert buf2 is not None
    evt2.u_data = buf2
    evt2.cb_event = 3  # inline by cbEvent: the checked allocator says the buffer would leak
    with pytest.raises(InvalidEvent, match="would leak"):
        alloc.put_message(evt2)
    evt2.cb_event = 10
    alloc.put_message(evt2)


@pytest.mark.spec("A2")
def test_package_chain_reclaimed_once(alloc: AllocatorMXF) -> None:
    """A2: PutMessage reclaims a package header, its pPackageEvt chain and their buffers, once each."""
    inner = [take(alloc) for _ in range(3)]
    alloc.set_data(inner[0], b"\x90\x40\x7f")
    alloc.set_data(inner[1], b"\xf0" + bytes(30) + b"\xf7")
    alloc.set_data(inner[2], b"\x80\x40\x00")
    inner[0].p_next_evt = inner[1]
    inner[1].p_next_evt = inner[2]
    header, after = take(alloc), take(alloc)
    ev.make_package(header, inner[0])
    header.p_next_evt = after
    alloc.put_message(header)
    st = alloc.stats()
    assert (st.outstanding, st.buffers_out, st.puts) == (0, 0, 5)


@pytest.mark.spec("A2")
def test_dmusuart_package_recycling(alloc: AllocatorMXF) -> None:
    """A2: a miniport splices the package chain, sets pPackageEvt NULL and cbEvent 0, recycles the header."""
    inner = take(alloc)
    alloc.set_data(inner, b"\x90\x40\x7f")
    header = take(alloc)
    ev.make_package(header, inner)
    chain = header.p_package_evt
    header.u_data = b""
    header.cb_event = 0
    alloc.put_message(header)
    assert alloc.stats().outstanding == 1
    assert chain is not None
    alloc.put_message(chain)


def small_package(alloc: AllocatorMXF) -> KernelEvent:
    """A package header with cbEvent 0 whose pPackageEvt chain holds seven events (eight in all)."""
    inner = [take(alloc) for _ in range(7)]
    for e, nxt in itertools.pairwise(inner):
        e.p_next_evt = nxt
    for e in inner:
        alloc.set_data(e, b"\xf8")
    header = take(alloc)
    ev.make_package(header, inner[0])
    header.cb_event = 0
    return header


@pytest.mark.spec("A1", "A2")
@pytest.mark.parametrize("checked", [True, False])
def test_package_flag_decides_whatever_cb_event(make_allocator: MakeAllocator, checked: bool) -> None:
    """A1/A2 [UNVERIFIED] package_rule="flag" (default): the "DMUS_KERNEL_EVENT structure" page ties
    pPackageEvt to PACKAGE_EVT, so a header with cbEvent 0 still returns its chain: 8 of 8 events
    come back (the model used to decide by cbEvent and leak the chain: 1 of 8)."""
    alloc = make_allocator(16, checked=checked)
    alloc.put_message(small_package(alloc))
    st = alloc.stats()
    assert (st.outstanding, st.puts, st.misread_packages) == (0, 8, 0)


@pytest.mark.spec("A1", "A2")
def test_package_rule_cb_event_never_leaks(make_allocator: MakeAllocator) -> None:
    """A1/A2 [UNVERIFIED] package_rule="cb_event" reads cbEvent first ("IAllocatorMXF::PutBuffer
    method", DMusUART): a package header with cbEvent <= the pointer size is misread as inline data.
    The fast allocator still reclaims the chain and counts it; the checked one names the misuse."""
    fast = make_allocator(16, checked=False, package_rule="cb_event")
    fast.put_message(small_package(fast))
    st = fast.stats()
    assert (st.outstanding, st.puts, st.misread_packages) == (0, 8, 1)
    checked = make_allocator(16, package_rule="cb_event")
    header = small_package(checked)
    with pytest.raises(InvalidEvent, match="would leak"):
        checked.put_message(header)
    header.cb_event = 9
    checked.put_message(header)
    with pytest.raises(ValueError, match="package_rule"):
        AllocatorMXF(4, package_rule="size")  # type: ignore[arg-type]


@pytest.mark.spec("A2")
def test_exhaustion_is_counted_status(make_allocator: MakeAllocator) -> None:
    """A2: an empty pool gives None (STATUS_INSUFFICIENT_RESOURCES), counted, never a crash."""
    alloc = make_allocator(2)
    a, b = take(alloc), take(alloc)
    assert alloc.get_message() is None
    assert alloc.GetMessage() is None
    assert alloc.stats().exhaustions == 2
    alloc.put_message(a)
    alloc.put_message(b)


@pytest.mark.spec("A2")
def test_exhaustion_can_raise(make_allocator: MakeAllocator) -> None:
    """A2: on_exhaustion='raise' turns the status into PoolExhausted (a RuntimeError), still counted."""
    alloc = make_allocator(1, on_exhaustion="raise", buffer_count=1)
    a = take(alloc)
    with pytest.raises(PoolExhausted, match="all 1 events are out") as info:
        alloc.get_message()
    assert info.value.status == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert isinstance(info.value, RuntimeError)
    buf = alloc.get_buffer()
    assert buf is not None
    with pytest.raises(PoolExhausted, match="buffers"):
        alloc.get_buffer()
    st = alloc.stats()
    assert (st.exhaustions, st.buffer_exhaustions) == (1, 1)
    alloc.put_buffer(buf)
    alloc.put_message(a)


@pytest.mark.spec("A2")
def test_buffer_exhaustion_in_set_data(make_allocator: MakeAllocator) -> None:
    """A2: set_data reports STATUS_INSUFFICIENT_RESOURCES when no buffer is left."""
    alloc = make_allocator(4, buffer_count=0)
    evt = take(alloc)
    assert alloc.set_data(evt, bytes(9)) == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert alloc.stats().buffer_exhaustions == 1
    with pytest.raises(ValueError, match="do not fit one buffer"):
        alloc.set_data(evt, bytes(5000))
    alloc.put_message(evt)


@pytest.mark.spec("A2")
@pytest.mark.parametrize("checked", [False, True])
def test_counters_and_high_water(checked: bool) -> None:
    """A2: gets, puts, outstanding and high-water describe the traffic (both modes)."""
    alloc = new_allocator(8, checked=checked)
    held = [take(alloc) for _ in range(5)]
    for e in held[2:]:
        alloc.put_message(e)
    more = [take(alloc) for _ in range(2)]
    st = alloc.stats()
    assert (st.gets, st.puts, st.outstanding, st.high_water) == (7, 3, 4, 5)
    for e in held[:2] + more:
        alloc.put_message(e)
    st = alloc.stats()
    assert (st.gets, st.puts, st.outstanding, st.high_water, st.free) == (7, 7, 0, 5, 8)
    alloc.assert_balanced()


@pytest.mark.spec("A2")
def test_unchecked_leaks_listed(make_allocator: MakeAllocator) -> None:
    """A2: the unchecked allocator still lists what is out, without tracebacks."""
    alloc = AllocatorMXF(4)
    evt = take(alloc)
    leaks = alloc.leaks()
    assert [leak.obj for leak in leaks] == [evt]
    with pytest.raises(LeakError, match="1 leaked"):
        alloc.assert_balanced()
    alloc.put_message(evt)
    alloc.assert_balanced()


@pytest.mark.spec("A2")
def test_checked_leak_report_names_where_taken() -> None:
    """A2: checked mode reports each leaked event and buffer with where it was taken."""
    alloc = new_allocator(4, checked=True)
    assert isinstance(alloc, CheckedAllocatorMXF) and alloc.checked
    evt = take(alloc)  # the line the report must name
    buf = alloc.get_buffer()
    with pytest.raises(LeakError) as info:
        alloc.assert_balanced()
    assert isinstance(info.value, AssertionError)
    text = str(info.value)
    assert "2 leaked" in text and "test_checked_leak_report_names_where_taken" in text
    assert "evt = take(alloc)" in text and "buf = alloc.get_buffer()" in text
    alloc.put_message(evt)
    assert buf is not None
    alloc.put_buffer(buf)
    alloc.assert_balanced()


@pytest.mark.spec("A2")
def test_double_free_caught(alloc: AllocatorMXF) -> None:
    """A2: checked mode catches a second PutMessage of the same event, naming where it was freed."""
    evt = take(alloc)
    alloc.put_message(evt)
    with pytest.raises(DoubleFree, match="already free"):
        alloc.put_message(evt)


@pytest.mark.spec("A2")
def test_event_twice_in_one_chain_caught(alloc: AllocatorMXF) -> None:
    """A2: an event reachable twice (a cycle, or a package chain that is also in the chain) is caught."""
    a, b = take(alloc), take(alloc)
    a.p_next_evt = b
    b.p_next_evt = a
    with pytest.raises(DoubleFree, match="appears twice"):
        alloc.put_message(a)
    b.p_next_evt = None
    alloc.put_message(a)


@pytest.mark.spec("A2")
def test_buffer_shared_by_two_events_caught(alloc: AllocatorMXF) -> None:
    """A2: two events owning one buffer would free it twice; checked mode refuses the chain."""
    a, b = take(alloc), take(alloc)
    alloc.set_data(a, bytes(20))
    b.u_data, b.cb_event = a.u_data, 20
    a.p_next_evt = b
    with pytest.raises(DoubleFree, match="owned by two events"):
        alloc.put_message(a)
    b.u_data, b.cb_event = b"", 0
    alloc.put_message(a)


@pytest.mark.spec("A2")
def test_double_put_buffer_caught(alloc: AllocatorMXF) -> None:
    """A2: PutBuffer of a free buffer is a double free."""
    buf = alloc.get_buffer()
    assert buf is not None
    alloc.put_buffer(buf)
    with pytest.raises(DoubleFree):
        alloc.put_buffer(buf)


@pytest.mark.spec("A2")
def test_foreign_event_caught(make_allocator: MakeAllocator) -> None:
    """A2: an event from another allocator is refused (ForeignEvent is also a ValueError)."""
    one, two = make_allocator(name_hint := 4), make_allocator(4)
    assert name_hint == 4
    evt = take(one)
    with pytest.raises(ForeignEvent, match="belongs to allocator0") as info:
        two.put_message(evt)
    assert isinstance(info.value, ValueError)
    buf = one.get_buffer()
    assert buf is not None
    with pytest.raises(ForeignEvent):
        two.put_buffer(buf)
    one.put_buffer(buf)
    one.put_message(evt)


@pytest.mark.spec("A2")
def test_use_after_free_of_event(alloc: AllocatorMXF) -> None:
    """A2: touching an event after it went back raises UseAfterFree at once."""
    evt = take(alloc)
    alloc.put_message(evt)
    with pytest.raises(UseAfterFree, match="read after"):
        _ = evt.ull_pres_time_100ns
    with pytest.raises(UseAfterFree, match="written after"):
        evt.cb_event = 3
    assert "KernelEvent" in repr(evt)  # repr still works for error messages


@pytest.mark.spec("A2")
def test_use_after_free_of_buffer(alloc: AllocatorMXF) -> None:
    """A2: a buffer indexed after it went back raises; a write by other means is found at reuse."""
    evt = take(alloc)
    alloc.set_data(evt, bytes(range(20)))
    buf = evt.pb_data
    alloc.put_message(evt)
    with pytest.raises(UseAfterFree):
        buf[0] = 1
    with pytest.raises(UseAfterFree):
        _ = buf[0]
    memoryview(buf)[5] = 0  # bypasses indexing: caught by the poison check
    with pytest.raises(UseAfterFree, match="byte 5"):
        alloc.get_buffer()
    alloc._free_buffers.append(buf)  # the failed GetBuffer took it off the list; give it back


@pytest.mark.spec("A1")
@pytest.mark.parametrize(("field", "modified", "name"), [
    ("cb_struct", 12, "cbStruct"),
    ("b_reserved", 1, "bReserved"),
])
def test_modified_reserved_fields_caught(alloc: AllocatorMXF, field: str, modified: int, name: str) -> None:
    """A1: bReserved and cbStruct must not be modified: PutMessage refuses the event naming the field,
    and takes it once the field has its value again."""
    evt = take(alloc)
    original = getattr(evt, field)
    setattr(evt, field, modified)
    with pytest.raises(InvalidEvent, match=name):
        alloc.put_message(evt)
    setattr(evt, field, original)
    alloc.put_message(evt)


@pytest.mark.spec("A2")
def test_not_an_event_caught(alloc: AllocatorMXF) -> None:
    """A2: PutMessage of something that is not an event is refused in checked mode."""
    with pytest.raises(InvalidEvent):
        alloc.put_message("note on")  # type: ignore[arg-type]


@pytest.mark.spec("A2")
def test_put_none_is_harmless(alloc: AllocatorMXF) -> None:
    """A2: PutMessage(NULL) on the allocator does nothing and succeeds."""
    assert alloc.put_message(None) == NtStatus.STATUS_SUCCESS
    assert AllocatorMXF(2).put_message(None) == NtStatus.STATUS_SUCCESS


@pytest.mark.spec("A2")
@pytest.mark.parametrize("checked", [False, True])
def test_camel_case_aliases(checked: bool) -> None:
    """A2: the interface's camelCase names reach the same implementation."""
    alloc = new_allocator(4, checked=checked)
    evt = alloc.GetMessage()
    assert isinstance(evt, KernelEvent)
    buf = alloc.GetBuffer()
    assert buf is not None and alloc.GetBufferSize() == 4096
    assert alloc.PutBuffer(buf) == NtStatus.STATUS_SUCCESS
    assert alloc.PutMessage(evt) == NtStatus.STATUS_SUCCESS
    assert alloc.SetState(KsState.RUN) == NtStatus.STATUS_SUCCESS
    assert alloc.ConnectOutput(alloc) == NtStatus.STATUS_UNSUCCESSFUL
    assert alloc.DisconnectOutput(None) == NtStatus.STATUS_SUCCESS
    assert type(alloc).get_message(alloc) is evt
    assert type(alloc).put_message(alloc, evt) == NtStatus.STATUS_SUCCESS
    alloc.assert_balanced()


@pytest.mark.spec("A2")
def test_unchecked_reclaims_packages_and_buffers() -> None:
    """A2: the fast allocator reclaims chains, packages and buffers exactly like the checked one."""
    alloc = AllocatorMXF(8)
    inner, header, tail = take(alloc), take(alloc), take(alloc)
    alloc.set_data(inner, bytes(50))
    ev.make_package(header, inner)
    header.p_next_evt = tail
    alloc.set_data(tail, bytes(12))
    alloc.put_message(header)
    st = alloc.stats()
    assert (st.outstanding, st.buffers_out, st.puts) == (0, 0, 3)
    alloc.assert_balanced()


@pytest.mark.spec("A2")
def test_bad_constructor_arguments() -> None:
    """A2: sizes are validated with messages that say which."""
    with pytest.raises(ValueError, match="pool_size"):
        AllocatorMXF(0)
    with pytest.raises(ValueError, match="buffer_size"):
        AllocatorMXF(4, buffer_size=4)
    with pytest.raises(ValueError, match="buffer_count"):
        AllocatorMXF(4, buffer_count=-1)
    with pytest.raises(ValueError, match="on_exhaustion"):
        AllocatorMXF(4, on_exhaustion="crash")  # type: ignore[arg-type]


def test_errors_share_a_base() -> None:
    """Errors: every exception is an MxfError and its natural built-in."""
    assert issubclass(DoubleFree, MxfError) and issubclass(DoubleFree, RuntimeError)
    assert issubclass(ForeignEvent, ValueError) and issubclass(LeakError, AssertionError)


def test_tracking_builds_every_allocator_checked_and_records_it() -> None:
    """tracking(): what the miniport and conformance tests use to run allocators built deep inside the
    rig checked; outside the block new_allocator() builds the fast unchecked one again."""
    from host.mxf.allocator import tracking

    with tracking() as outer, tracking() as inner:
        a = new_allocator(4, name="inside")
    b = new_allocator(4, name="outside")
    assert isinstance(a, CheckedAllocatorMXF) and a.checked and outer == [a] and inner == [a]
    assert not b.checked and not isinstance(b, CheckedAllocatorMXF)
    evt = take(a)
    assert "test_tracking_builds_every_allocator_checked" in a.leaks()[0].taken_at
    a.put_message(evt)
