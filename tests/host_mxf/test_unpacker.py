"""A3: the Unpacker — DMUS_EVENTHEADER buffers to time-stamped kernel events."""

from __future__ import annotations

import struct

import pytest

from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.dmusbuff import DMUS_EVENT_STRUCTURED, HEADER_SIZE, dmus_event_size, pack_records
from host.mxf.errors import MalformedBuffer
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE, kBytePositionNone
from host.mxf.unpacker import Unpacker

from .conftest import MakeAllocator
from .helpers import Collector


def make(alloc: AllocatorMXF) -> tuple[Unpacker, Collector]:
    """An unpacker whose output is collected."""
    u, c = Unpacker(alloc), Collector(alloc)
    assert u.connect_output(c) == NtStatus.STATUS_SUCCESS
    return u, c


@pytest.mark.spec("A3")
def test_header_layout() -> None:
    """A3: DMUS_EVENTHEADER is 20 bytes (pack 4) and records are QWORD aligned."""
    assert HEADER_SIZE == 20
    assert [dmus_event_size(n) for n in (0, 3, 4, 5, 12)] == [24, 24, 24, 32, 32]
    raw = pack_records([(b"\x90\x40\x7f", 1, 10, 1)])
    assert len(raw) == 24 and struct.unpack_from("<IIqI", raw) == (3, 1, 10, 1)


@pytest.mark.spec("A3")
def test_events_with_presentation_time(alloc: AllocatorMXF) -> None:
    """A3: one event per record, presentation time = buffer start + rtDelta, channel group kept."""
    u, c = make(alloc)
    raw = pack_records([(b"\x90\x40\x7f", 1, 0, 1), (b"\x80\x40\x00", 2, 5000, 1), (b"\xc0\x05", 1, 7, 1)])
    assert u.unpack(raw, 1_000_000) == NtStatus.STATUS_SUCCESS
    got = [(e.data, e.us_channel_group, e.ull_pres_time_100ns, e.us_flags) for e in c.got]
    assert got == [
        (b"\x90\x40\x7f", 1, 1_000_000, 0),
        (b"\x80\x40\x00", 2, 1_005_000, 0),
        (b"\xc0\x05", 1, 1_000_007, 0),
    ]
    assert all(e.ull_byte_position == kBytePositionNone for e in c.got)
    c.release()


@pytest.mark.spec("A1", "A3")
def test_long_event_gets_buffer(alloc: AllocatorMXF) -> None:
    """A1/A3: an event longer than the pointer size is stored in an allocator buffer."""
    u, c = make(alloc)
    sysex = b"\xf0\x7e\x7f\x06\x01\x00\x00\x00\x00\xf7"
    u.unpack(pack_records([(sysex, 1, 0, 0)]), 0)
    (evt,) = c.got
    assert evt.cb_event == 10 and len(evt.pb_data) == 4096 and evt.data == sysex
    c.release()


@pytest.mark.spec("A1", "A3")
def test_event_longer_than_buffer_becomes_incomplete_chain(make_allocator: MakeAllocator) -> None:
    """A1/A3: an event longer than GetBufferSize is a chain of buffer-sized fragments.

    All but the last fragment are flagged INCOMPLETE.
    """
    alloc = make_allocator(16, buffer_size=16)
    u, c = make(alloc)
    sysex = b"\xf0" + bytes(range(1, 40)) + b"\xf7"  # 41 bytes -> 16 + 16 + 9
    u.unpack(pack_records([(sysex, 3, 2, 0)]), 100)
    (head,) = c.got
    chain = head.chain()
    assert [e.cb_event for e in chain] == [16, 16, 9]
    assert [e.us_flags for e in chain] == [DMUS_KEF_EVENT_INCOMPLETE, DMUS_KEF_EVENT_INCOMPLETE, 0]
    assert all(e.ull_pres_time_100ns == 102 and e.us_channel_group == 3 for e in chain)
    assert b"".join(e.data for e in chain) == sysex
    c.release()


@pytest.mark.spec("A3")
def test_truncated_header_names_offset(alloc: AllocatorMXF) -> None:
    """A3: a truncated header is MalformedBuffer naming the offset; nothing is taken."""
    u, c = make(alloc)
    raw = pack_records([(b"\x90\x40\x7f", 1, 0, 1)]) + bytes(10)
    with pytest.raises(MalformedBuffer, match=r"truncated DMUS_EVENTHEADER.*offset 24") as info:
        u.unpack(raw, 0)
    assert info.value.offset == 24 and isinstance(info.value, ValueError)
    assert c.got == [] and alloc.stats().outstanding == 0


@pytest.mark.spec("A3")
def test_cb_event_past_end_names_offset(alloc: AllocatorMXF) -> None:
    """A3: cbEvent running past the end is MalformedBuffer naming the record's offset; nothing leaks."""
    u, c = make(alloc)
    good = pack_records([(b"\x90\x40\x7f", 1, 0, 1), (b"\xf0" + bytes(10) + b"\xf7", 1, 0, 0)])
    bad = good + struct.pack("<IIqI", 50, 1, 0, 0) + bytes(8)
    with pytest.raises(MalformedBuffer, match=r"cbEvent 50 runs past the end.*offset 56"):
        u.unpack(bad, 0)
    assert c.got == [] and alloc.stats().outstanding == 0 and alloc.stats().buffers_out == 0


@pytest.mark.spec("A3")
def test_bad_channel_group_and_negative_time(alloc: AllocatorMXF) -> None:
    """A3: a channel group beyond USHORT or a time before 0 is malformed."""
    u, _ = make(alloc)
    with pytest.raises(MalformedBuffer, match="dwChannelGroup 65536"):
        u.unpack(pack_records([(b"\xf8", 65536, 0, 1)]), 0)
    with pytest.raises(MalformedBuffer, match="before time 0"):
        u.unpack(pack_records([(b"\xf8", 1, -10, 1)]), 5)


@pytest.mark.spec("A3")
def test_last_record_may_omit_padding(alloc: AllocatorMXF) -> None:
    """A3: a buffer may end right after the last record's data."""
    u, c = make(alloc)
    raw = pack_records([(b"\x90\x40\x7f", 1, 0, 1)])[: HEADER_SIZE + 3]
    assert u.unpack(raw, 0) == NtStatus.STATUS_SUCCESS and len(c.got) == 1
    c.release()


@pytest.mark.spec("A2")
def test_exhaustion_is_all_or_nothing(make_allocator: MakeAllocator) -> None:
    """A2: when the pool runs dry part way, the buffer's events go back and the status says so."""
    alloc = make_allocator(3)
    u, c = make(alloc)
    raw = pack_records([(b"\xf8", 1, i, DMUS_EVENT_STRUCTURED) for i in range(5)])
    assert u.unpack(raw, 0) == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert c.got == [] and u.dropped_buffers == 1
    st = alloc.stats()
    assert st.outstanding == 0 and st.exhaustions == 1


@pytest.mark.spec("A3")
def test_malformed_tail_is_reported_even_when_the_pool_is_too_small(make_allocator: MakeAllocator) -> None:
    """A3 (#9): the whole buffer is checked before any event is taken, so two good records and 5 stray
    bytes are MalformedBuffer (at the stray bytes), not STATUS_INSUFFICIENT_RESOURCES, with 1 event."""
    alloc = make_allocator(1)
    u, c = make(alloc)
    good = pack_records([(b"\x90\x40\x7f", 1, 0, 1), (b"\x80\x40\x00", 1, 10, 1)])
    with pytest.raises(MalformedBuffer, match=r"truncated DMUS_EVENTHEADER: 5 bytes left.*offset 48"):
        u.unpack(good + bytes(5), 0)
    assert c.got == [] and u.dropped_buffers == 0
    st = alloc.stats()
    assert st.outstanding == 0 and st.exhaustions == 0


@pytest.mark.spec("A2")
def test_buffer_exhaustion_is_all_or_nothing(make_allocator: MakeAllocator) -> None:
    """A2: running out of GetBuffer buffers also returns everything taken for the buffer."""
    alloc = make_allocator(8, buffer_count=1, buffer_size=16)
    u, c = make(alloc)
    raw = pack_records([(bytes(40), 1, 0, 0)])
    assert u.unpack(raw, 0) == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert c.got == [] and alloc.stats().outstanding == 0 and alloc.stats().buffers_out == 0


@pytest.mark.spec("A2")
def test_unpacker_put_message_passes_through(alloc: AllocatorMXF) -> None:
    """A2: PutMessage on the unpacker passes the event to its output."""
    u, c = make(alloc)
    u.put_message(alloc.get_message())
    assert len(c.got) == 1
    c.release()
