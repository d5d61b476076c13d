"""A3: the Packer — events to DMUS_EVENTHEADER buffers, and the Unpacker -> Packer round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.dmusbuff import DMUS_EVENT_STRUCTURED, iter_records, pack_records
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE
from host.mxf.packer import Packer, RecordTooLarge, structured_flags
from host.mxf.unpacker import Unpacker

from .helpers import event


@pytest.mark.spec("A3")
def test_packs_records_and_returns_events(alloc: AllocatorMXF) -> None:
    """A3: the packer fills the user's buffer, then PutMessages used events back to the allocator."""
    p = Packer(alloc)
    p.put_message(event(alloc, b"\x90\x40\x7f", 1000, 1))
    p.put_message(event(alloc, b"\xf0" + bytes(12) + b"\xf7", 1500, 2))
    out = p.read()
    assert out is not None and out.start_time_100ns == 1000 and out.events == 2
    recs = list(iter_records(out.data))
    assert [(r.data[:1], r.channel_group, r.rt_delta, r.flags) for r in recs] == [
        (b"\x90", 1, 0, DMUS_EVENT_STRUCTURED),
        (b"\xf0", 2, 500, 0),
    ]
    assert alloc.stats().outstanding == 0 and p.read() is None


@pytest.mark.spec("A1", "A3")
def test_fragments_joined_and_incomplete_waits(alloc: AllocatorMXF) -> None:
    """A1/A3: INCOMPLETE fragments form one record; an unfinished message waits for its last piece."""
    p = Packer(alloc)
    p.put_message(event(alloc, b"\xf0\x01\x02\x03\x04\x05\x06\x07\x08", 7, flags=DMUS_KEF_EVENT_INCOMPLETE))
    assert p.pending_messages() == 0 and p.read() is None
    p.put_message(event(alloc, b"\x09\xf7", 7))
    out = p.read()
    assert out is not None
    (rec,) = iter_records(out.data)
    assert rec.data == b"\xf0\x01\x02\x03\x04\x05\x06\x07\x08\x09\xf7"


@pytest.mark.spec("A3")
def test_buffer_size_limit(alloc: AllocatorMXF) -> None:
    """A3: only whole records that fit go in; the rest wait; a record that can never fit raises."""
    p = Packer(alloc)
    for i in range(3):
        p.put_message(event(alloc, b"\x90\x40\x7f", i))
    first = p.read(max_bytes=50)
    assert first is not None and first.events == 2 and len(first.data) == 48
    second = p.read(max_bytes=50, start_time_100ns=0)
    assert second is not None and second.events == 1
    assert next(iter_records(second.data)).rt_delta == 2
    p.put_message(event(alloc, bytes(40), 0))
    with pytest.raises(RecordTooLarge, match="40-byte message"):
        p.read(max_bytes=32)
    p.set_state(KsState.STOP)
    assert p.discarded == 1 and alloc.stats().outstanding == 0


@pytest.mark.spec("A2")
def test_put_none_notifies(alloc: AllocatorMXF) -> None:
    """A2: PutMessage(NULL) is the service notification."""
    calls: list[int] = []
    p = Packer(alloc, on_notify=lambda: calls.append(1))
    assert p.put_message(None) == NtStatus.STATUS_SUCCESS and calls == [1]


def _records() -> st.SearchStrategy[list[tuple[bytes, int, int, int]]]:
    short = st.builds(
        lambda s, a, b: bytes([s, a, b]), st.integers(0x80, 0xEF), st.integers(0, 127), st.integers(0, 127)
    )
    sysex = st.binary(max_size=80).map(lambda b: b"\xf0" + bytes(x & 0x7F for x in b) + b"\xf7")
    data = st.one_of(short, sysex, st.sampled_from([b"\xf8", b"\xfe", b"\xf1\x10"]))
    rec = st.tuples(data, st.integers(1, 16), st.integers(0, 10**9)).map(
        lambda t: (t[0], t[1], t[2], structured_flags(t[0]))
    )
    return st.lists(rec, min_size=1, max_size=20)


@pytest.mark.spec("A3")
@settings(max_examples=60, deadline=None)
@given(records=_records(), start=st.integers(0, 10**12))
def test_unpack_pack_round_trip(records: list[tuple[bytes, int, int, int]], start: int) -> None:
    """A3: Unpacker -> Packer round-trips a user-mode buffer byte for byte (long events fragmented)."""
    alloc = new_allocator(512, checked=True, buffer_size=16)
    raw = pack_records(records)
    u, p = Unpacker(alloc), Packer(alloc)
    u.connect_output(p)
    assert u.unpack(raw, start) == NtStatus.STATUS_SUCCESS
    out = p.read(max_bytes=len(raw), start_time_100ns=start)
    assert out is not None and out.data == raw and out.events == len(records)
    alloc.assert_balanced()
