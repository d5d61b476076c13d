"""A3: the capture sink — raw INCOMPLETE bytes to one time-stamped event per MIDI message."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.capture_sink import CaptureSink, raw_capture_chain
from host.mxf.dmusbuff import iter_records
from host.mxf.event import DMUS_KEF_EVENT_INCOMPLETE, KernelEvent
from host.mxf.packer import Packer

from .conftest import MakeAllocator
from .helpers import Collector


def make(alloc: AllocatorMXF, **kwargs: bool) -> tuple[CaptureSink, Collector]:
    """A running capture sink whose output is collected."""
    sink, out = CaptureSink(alloc, **kwargs), Collector(alloc)
    sink.connect_output(out)
    sink.set_state(KsState.RUN)
    return sink, out


def feed(alloc: AllocatorMXF, sink: CaptureSink, data: bytes, time: int, group: int = 1) -> NtStatus:
    """Bytes from the hardware, as DMusUART packs them."""
    chain = raw_capture_chain(alloc, data, time, group)
    assert chain is not None
    return sink.put_message(chain)


def summary(events: list[KernelEvent]) -> list[tuple[bytes, int, int, int]]:
    """(data, time, group, flags) of each event."""
    return [(e.data, e.ull_pres_time_100ns, e.us_channel_group, e.us_flags) for e in events]


@pytest.mark.spec("A3")
def test_raw_chain_like_dmusuart(make_allocator: MakeAllocator) -> None:
    """A3: DMusUART packs <= sizeof(PBYTE) bytes per event, INCOMPLETE, batch time, channel group 1."""
    alloc = make_allocator(8, pointer_size=4)
    chain = raw_capture_chain(alloc, b"\x90\x40\x7f\x80\x40\x00", 77)
    assert chain is not None
    assert [(e.data, e.us_flags, e.ull_pres_time_100ns, e.us_channel_group) for e in chain.chain()] == [
        (b"\x90\x40\x7f\x80", DMUS_KEF_EVENT_INCOMPLETE, 77, 1),
        (b"\x40\x00", DMUS_KEF_EVENT_INCOMPLETE, 77, 1),
    ]
    alloc.put_message(chain)


@pytest.mark.spec("A3")
def test_one_event_per_message(make_allocator: MakeAllocator) -> None:
    """A3: raw bytes become one complete, time-stamped event per message; raw events go back."""
    alloc = make_allocator(16, pointer_size=4)
    sink, out = make(alloc)
    assert feed(alloc, sink, b"\x90\x40\x7f\xc1\x05", 100) == NtStatus.STATUS_SUCCESS
    assert summary(out.got) == [(b"\x90\x40\x7f", 100, 1, 0), (b"\xc1\x05", 100, 1, 0)]
    assert alloc.stats().outstanding == 2
    out.release()


@pytest.mark.spec("A3")
def test_message_stamped_with_first_byte_time(alloc: AllocatorMXF) -> None:
    """A3: a message split across batches carries the time of the batch holding its first byte."""
    sink, out = make(alloc)
    feed(alloc, sink, b"\x90\x40", 100)
    assert out.got == []
    feed(alloc, sink, b"\x7f\x41", 200)  # completes the note; 0x41 starts a running-status note
    feed(alloc, sink, b"\x00", 300)
    assert summary(out.got) == [(b"\x90\x40\x7f", 100, 1, 0), (b"\x90\x41\x00", 200, 1, 0)]
    out.release()


@pytest.mark.spec("A1", "A3")
def test_long_sysex_becomes_fragment_chain(make_allocator: MakeAllocator) -> None:
    """A1/A3: SysEx longer than GetBufferSize: buffer-sized fragments, all but the last INCOMPLETE."""
    alloc = make_allocator(32, buffer_size=16)
    sink, out = make(alloc)
    sysex = b"\xf0" + bytes(range(1, 40)) + b"\xf7"
    feed(alloc, sink, sysex[:10], 5)
    feed(alloc, sink, sysex[10:], 6)
    (head,) = out.got
    chain = head.chain()
    assert all(e.cb_event <= 16 for e in chain) and len(chain) == 3
    assert [e.us_flags for e in chain] == [DMUS_KEF_EVENT_INCOMPLETE] * 2 + [0]
    assert b"".join(e.data for e in chain) == sysex and {e.ull_pres_time_100ns for e in chain} == {5}
    out.release()


@pytest.mark.spec("A1", "A3")
def test_fragments_unchained_when_asked(make_allocator: MakeAllocator) -> None:
    """A1/A3: with chain_fragments=False each fragment is passed on as it is parsed."""
    alloc = make_allocator(32, buffer_size=16)
    sink, out = make(alloc, chain_fragments=False)
    sysex = b"\xf0" + bytes(range(1, 40)) + b"\xf7"
    feed(alloc, sink, sysex, 5)
    assert len(out.got) == 3 and all(e.p_next_evt is None for e in out.got)
    assert b"".join(e.data for e in out.got) == sysex
    out.release()


@pytest.mark.spec("A3")
@pytest.mark.parametrize(("then", "expected", "truncated"), [
    pytest.param(b"\xf8\x03\xf7", [(b"\xf8", 20, 1, 0), (b"\xf0\x01\x02\x03\xf7", 10, 1, 0)], 0,
                 id="real-time-byte-is-its-own-event"),
    pytest.param(b"\x90\x40\x7f", [(b"\xf0\x01\x02", 10, 1, 0), (b"\x90\x40\x7f", 20, 1, 0)], 1,
                 id="status-byte-truncates-and-is-counted"),
])
def test_byte_inside_sysex(alloc: AllocatorMXF, then: bytes, expected: list[tuple[bytes, int, int, int]],
                           truncated: int) -> None:
    """A3: after a SysEx start at time 10, a batch at time 20 brings a real-time byte [UNVERIFIED]: it
    comes out as its own event with its batch's time and the SysEx goes on; or a status byte: the
    SysEx cut there is passed on as it is and counted (MIDI 1.0)."""
    sink, out = make(alloc)
    feed(alloc, sink, b"\xf0\x01\x02", 10)
    feed(alloc, sink, then, 20)
    assert summary(out.got) == expected
    assert sink.truncated_sysex == truncated
    out.release()


@pytest.mark.spec("A1")
def test_channel_groups_parse_separately(alloc: AllocatorMXF) -> None:
    """A1: each channel group has its own byte stream."""
    sink, out = make(alloc)
    feed(alloc, sink, b"\x90\x40", 1, group=1)
    feed(alloc, sink, b"\xc0\x01", 2, group=2)
    feed(alloc, sink, b"\x7f", 3, group=1)
    assert summary(out.got) == [(b"\xc0\x01", 2, 2, 0), (b"\x90\x40\x7f", 1, 1, 0)]
    out.release()


@pytest.mark.spec("A2")
def test_stop_and_acquire_throw_data_away(alloc: AllocatorMXF) -> None:
    """A2: capture in STOP or ACQUIRE throws hardware data away; PAUSE and RUN pass it upstream."""
    sink, out = make(alloc)
    for state in (KsState.STOP, KsState.ACQUIRE):
        sink.set_state(state)
        feed(alloc, sink, b"\x90\x40\x7f", 0)
    assert out.got == [] and sink.discarded_bytes == 6 and alloc.stats().outstanding == 0
    sink.set_state(KsState.PAUSE)
    feed(alloc, sink, b"\x90\x40\x7f", 0)
    assert len(out.got) == 1
    out.release()


@pytest.mark.spec("A2")
def test_stop_drops_held_sysex_fragments(make_allocator: MakeAllocator) -> None:
    """A2: entering STOP throws away an unfinished SysEx: its held fragments go back to the allocator."""
    alloc = make_allocator(16, buffer_size=16)
    sink, out = make(alloc)
    feed(alloc, sink, b"\xf0" + bytes(40), 1)
    assert alloc.stats().outstanding == 2  # two full fragments held for the chain
    sink.set_state(KsState.STOP)
    assert alloc.stats().outstanding == 0 and sink.dropped_messages == 1
    sink.set_state(KsState.RUN)
    feed(alloc, sink, b"\x01\x02\xf7\x90\x40\x7f", 2)  # the old SysEx's tail is now stray data
    assert summary(out.got) == [(b"\x90\x40\x7f", 2, 1, 0)]
    out.release()


@pytest.mark.spec("A2")
def test_put_none_is_service_notification(alloc: AllocatorMXF) -> None:
    """A2: PutMessage(NULL) is the service notification, passed on to the packer."""
    calls: list[int] = []
    sink, packer = CaptureSink(alloc), Packer(alloc, on_notify=lambda: calls.append(1))
    sink.connect_output(packer)
    assert sink.put_message(None) == NtStatus.STATUS_SUCCESS and calls == [1]


@pytest.mark.spec("A2")
def test_exhaustion_drops_message_and_reports(make_allocator: MakeAllocator) -> None:
    """A2: when GetMessage yields nothing the message is dropped, counted and reported; nothing leaks."""
    alloc = make_allocator(3)
    sink, out = make(alloc)
    feed(alloc, sink, b"\x90\x40\x7f", 0)  # 1 raw + 1 out, raw returned
    feed(alloc, sink, b"\x90\x41\x7f", 0)
    feed(alloc, sink, b"\x90\x42\x7f", 0)
    assert len(out.got) == 2  # third needs the last event for raw bytes; none left for the message
    assert sink.dropped_messages == 1 and alloc.stats().exhaustions == 1
    out.release()
    assert raw_capture_chain(alloc, bytes(100), 0) is None and alloc.stats().outstanding == 0


@pytest.mark.spec("A2")
def test_sysex_dropped_whole_when_fragment_fails(make_allocator: MakeAllocator) -> None:
    """A2: a SysEx whose fragment cannot get an event is dropped entirely; later messages still pass."""
    alloc = make_allocator(4, buffer_size=16)
    sink, out = make(alloc)
    sysex = b"\xf0" + bytes(60) + b"\xf7"
    statuses = [feed(alloc, sink, sysex[i : i + 8], 0) for i in range(0, len(sysex), 8)]
    assert out.got == [] and sink.dropped_messages == 1
    assert statuses.count(NtStatus.STATUS_INSUFFICIENT_RESOURCES) == 1
    feed(alloc, sink, b"\x90\x40\x7f", 9)
    assert summary(out.got) == [(b"\x90\x40\x7f", 9, 1, 0)]
    out.release()


_message = st.one_of(
    st.tuples(st.integers(0x80, 0xEF), st.integers(0, 127), st.integers(0, 127)).map(
        lambda t: bytes(t) if t[0] < 0xC0 or t[0] >= 0xE0 else bytes(t[:2])
    ),
    st.binary(max_size=50).map(lambda b: b"\xf0" + bytes(x & 0x7F for x in b) + b"\xf7"),
    st.sampled_from([b"\xf8", b"\xfa", b"\xf6", b"\xf2\x01\x02"]),
)


@pytest.mark.spec("A3")
@settings(max_examples=60, deadline=None)
@given(messages=st.lists(_message, min_size=1, max_size=15), cuts=st.lists(st.integers(0, 400), max_size=8))
def test_capture_to_packer_recovers_messages(messages: list[bytes], cuts: list[int]) -> None:
    """A3: any batching of a message stream comes out of CaptureSink -> Packer as the same messages."""
    alloc = new_allocator(256, checked=True, buffer_size=16, pointer_size=4)
    sink, packer = CaptureSink(alloc), Packer(alloc)
    sink.connect_output(packer)
    sink.set_state(KsState.RUN)
    stream = b"".join(messages)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for t, (a, b) in enumerate(itertools.pairwise(points)):
        chain = raw_capture_chain(alloc, stream[a:b], t)
        if chain is not None:
            assert sink.put_message(chain) == NtStatus.STATUS_SUCCESS
    out = packer.read(max_bytes=1 << 20)
    got = [r.data for r in iter_records(out.data)] if out else []
    assert got == messages
    alloc.assert_balanced()
