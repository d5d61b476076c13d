"""The render graph's batch paths (a buffer of short records unpacked at once, the sequencer's
put_messages and pending run, the render sink's put_messages, the allocator's get/put_messages) give
exactly what one PutMessage per event gives: the same packets in the same order, the same counters,
the same books, the same errors. A differential property test against the same graph with every
batch path turned off."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.allocator_factory import new_allocator
from host.mxf.clock import ManualClock
from host.mxf.dmusbuff import pack_records
from host.mxf.errors import MalformedBuffer
from host.mxf.event import KernelEvent
from host.mxf.filter import MxfFilter
from host.mxf.render_sink import RenderSink
from host.mxf.sequencer import Sequencer
from host.mxf.unpacker import Unpacker


class OneByOne:
    """A sink seen through PutMessage alone (no put_messages): its source falls back to one call
    per event."""

    def __init__(self, inner: MxfFilter) -> None:
        self.inner = inner

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        return self.inner.put_message(evt)

    def set_state(self, state: KsState) -> NtStatus:
        return self.inner.set_state(state)

    def connect_output(self, sink: object) -> NtStatus:
        return NtStatus.STATUS_UNSUCCESSFUL

    def disconnect_output(self, sink: object) -> NtStatus:
        return NtStatus.STATUS_UNSUCCESSFUL


class RecordByRecord(Unpacker):
    """The unpacker with its short-record array path off: every buffer walked record by record."""

    def _take_short(self, data: bytes, start: int) -> tuple[bool, list[KernelEvent] | None]:
        return False, None


@dataclass
class Graph:
    """Unpacker -> Sequencer -> RenderSink on one allocator and clock, packets collected."""

    alloc: AllocatorMXF
    clock: ManualClock
    unpacker: Unpacker
    sequencer: Sequencer
    sink: RenderSink
    out: list[bytes]

    @classmethod
    def build(cls, batched: bool, pool: int, checked: bool, prefetch: int) -> Graph:
        alloc = new_allocator(pool, checked=checked, buffer_size=16, buffer_count=64)
        clock = ManualClock()
        out: list[bytes] = []
        unpacker = (Unpacker if batched else RecordByRecord)(alloc)
        sequencer = Sequencer(alloc, clock, prefetch)
        sink = RenderSink(alloc, out.append, cables={1: 0, 2: 5, 0: 0})
        unpacker.connect_output(sequencer if batched else OneByOne(sequencer))
        sequencer.connect_output(sink if batched else OneByOne(sink))
        return cls(alloc, clock, unpacker, sequencer, sink, out)

    def books(self) -> tuple[object, ...]:
        u, q, k, stats = self.unpacker, self.sequencer, self.sink, self.alloc.stats()
        return (b"".join(self.out), u.records_unpacked, u.dropped_buffers, q.released, q.late, q.discarded,
                len(q), q.next_due_100ns(), k.events_rendered, k.bytes_rendered, k.packet_bytes, k.unroutable,
                k.held, k.discarded, stats.outstanding, stats.exhaustions, stats.buffers_out)


MESSAGES = st.sampled_from([
    b"\x90\x40\x7f", b"\x80\x40\x00", b"\xc3\x05", b"\xe0\x00\x40", b"\xf8", b"\x41\x22", b"\x05",
    b"", b"\xf0\x01\xf7", b"\xf0\x01\x02\x03\x04\x05\x06\xf7", b"\xf2\x01\x02", b"\x90\x80\x00",
    b"\xf0" + bytes(40) + b"\xf7", b"\xf0\x01\x02", b"\x03\x04\xf7",
])
TIMES = st.sampled_from([0, 50, 100, 150, 200, 400])
"""Few distinct times, so that events fall due, and arrive late, exactly at the clock's time."""
DELTAS = st.sampled_from([0, 50, 100, 150, 200, 400] * 5 + [-1000])
"""rtDelta: mostly those times; now and then one before time 0 (a malformed buffer)."""
GROUPS = st.sampled_from([0, 1, 1, 1, 2, 9] * 5 + [0x10000])
"""Channel groups: routed (0, 1, 2), unroutable (9), and now and then one too big (malformed)."""
RECORDS = st.lists(st.tuples(MESSAGES, GROUPS, DELTAS, st.just(0)), max_size=16)
STEPS = st.lists(st.one_of(
    st.tuples(st.just("write"), RECORDS, st.booleans(), TIMES),
    st.tuples(st.just("advance"), TIMES),
    st.tuples(st.just("state"), st.sampled_from([KsState.RUN, KsState.PAUSE, KsState.STOP])),
), max_size=20)


def _records(records: list[tuple[bytes, int, int, int]], in_order: bool) -> list[tuple[bytes, int, int, int]]:
    """The records, their rtDelta sorted when `in_order` (a sequence's usual buffer)."""
    if not in_order:
        return records
    deltas = sorted(delta for _, _, delta, _ in records)
    return [(data, group, delta, flags)
            for (data, group, _, flags), delta in zip(records, deltas, strict=True)]


def _run(graph: Graph, steps: list[tuple[object, ...]]) -> list[object]:
    """Apply `steps`; every step's outcome (status, error) and the books after it."""
    seen: list[object] = []
    for step in steps:
        kind = step[0]
        try:
            if kind == "write":
                _, records, in_order, start = step
                buf = pack_records(_records(records, in_order))  # type: ignore[arg-type]
                result: object = graph.unpacker.unpack(buf, graph.clock.time_100ns() + start - 100)  # type: ignore[operator]
            elif kind == "advance":
                graph.clock.set(graph.clock.time_100ns() + step[1])  # type: ignore[operator]
                result = graph.sequencer.service()
            else:
                state = step[1]
                result = [f.set_state(state) for f in (graph.sink, graph.sequencer)]  # type: ignore[arg-type]
        except MalformedBuffer as exc:
            result = ("MalformedBuffer", exc.offset, str(exc))
        seen.append((result, graph.books()))
    return seen


@settings(max_examples=200, deadline=None)
@given(steps=STEPS, pool=st.sampled_from([4, 16, 256]), checked=st.booleans(),
       prefetch=st.sampled_from([0, 100]))
def test_batch_paths_equal_one_put_message_each(steps: list[tuple[object, ...]], pool: int, checked: bool,
                                                 prefetch: int) -> None:
    """Same packets (in order), counters, books and errors, step by step, with the batch paths on as
    with one PutMessage per event and every buffer walked record by record."""
    batched = Graph.build(True, pool, checked, prefetch)
    single = Graph.build(False, pool, checked, prefetch)
    for graph in (batched, single):
        graph.sink.set_state(KsState.RUN)
        graph.sequencer.set_state(KsState.RUN)
    assert _run(batched, steps) == _run(single, steps)
    for graph in (batched, single):
        graph.sequencer.set_state(KsState.STOP)
        graph.sink.set_state(KsState.STOP)
        graph.alloc.assert_balanced()


@pytest.mark.parametrize("checked", [False, True])
def test_get_messages_is_all_or_nothing(checked: bool) -> None:
    """get_messages(n) with fewer than n free takes nothing and counts one exhaustion."""
    alloc = new_allocator(8, checked=checked)
    held = alloc.get_messages(5)
    assert held is not None and len(held) == 5
    assert alloc.get_messages(4) is None
    stats = alloc.stats()
    assert stats.outstanding == 5 and stats.exhaustions == 1
    alloc.put_messages(held)
    assert alloc.stats().outstanding == 0 and alloc.stats().puts == 5


def test_short_buffer_the_pool_cannot_hold_is_refused_whole() -> None:
    """A buffer of short records the pool cannot hold: STATUS_INSUFFICIENT_RESOURCES, nothing taken,
    counted in dropped_buffers (as for any buffer)."""
    alloc = new_allocator(3, checked=False)
    unpacker = Unpacker(alloc)
    buf = pack_records([(b"\x90\x40\x7f", 1, 0, 1)] * 4)
    assert unpacker.unpack(buf, 0) == NtStatus.STATUS_INSUFFICIENT_RESOURCES
    assert unpacker.dropped_buffers == 1 and alloc.stats().outstanding == 0


def test_render_sink_batch_takes_every_event_when_the_writer_raises() -> None:
    """put_messages returns the events to the allocator before it writes their packets."""
    alloc = new_allocator(8, checked=True)

    def broken(packets: bytes) -> None:
        raise OSError("writer failed")

    sink = RenderSink(alloc, broken)
    sink.set_state(KsState.RUN)
    events = alloc.get_messages(3)
    assert events is not None
    for evt in events:
        alloc.set_data(evt, b"\x90\x40\x7f")
        evt.us_channel_group = 1
    with pytest.raises(OSError, match="writer failed"):
        sink.put_messages(events)
    assert alloc.stats().outstanding == 0 and sink.events_rendered == 3


@pytest.mark.parametrize("checked", [False, True])
def test_a_rendered_batch_comes_back_zeroed(checked: bool) -> None:
    """The events a render sink returns in a batch are zeroed as PutMessage zeroes them: the next
    GetMessage hands out events with every field at its initial value."""
    alloc = new_allocator(8, checked=checked)
    sink = RenderSink(alloc, bytearray().extend)
    sink.set_state(KsState.RUN)
    unpacker = Unpacker(alloc)
    unpacker.connect_output(sink)
    buf = pack_records([(b"\x90\x40\x7f", 1, 5, 1), (b"\xc3\x05", 2, 6, 1), (b"\xf8", 1, 7, 0)])
    assert unpacker.unpack(buf, 100) == NtStatus.STATUS_SUCCESS
    again = alloc.get_messages(8)
    assert again is not None
    fields = ("cb_event", "us_channel_group", "us_flags", "ull_pres_time_100ns", "ull_byte_position",
              "p_next_evt", "u_data")
    assert {tuple(getattr(evt, name) for name in fields) for evt in again} == {(0, 0, 0, 0, 0, None, b"")}
    alloc.put_messages(again)
