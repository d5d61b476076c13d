"""Property tests of the capture path the miniports build: any MIDI byte stream, cut anywhere into
transfers, comes out of raw events -> CaptureSink -> MessageCollector as the messages a MIDI 1.0
parser finds, with every event back in its (checked) allocator."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from host import midi as m
from host.mxf import AllocatorMXF, KsState, new_allocator
from host.mxf.capture_sink import CaptureSink
from rig.miniport.capture import MessageCollector, raw_events

channel = st.integers(0, 15)
data7 = st.integers(0, 127)
MESSAGES = st.one_of(
    st.builds(m.note_on, channel, data7, data7), st.builds(m.note_off, channel, data7, data7),
    st.builds(m.control_change, channel, data7, data7), st.builds(m.program_change, channel, data7),
    st.builds(m.pitch_bend, channel, st.integers(-8192, 8191)),
    st.builds(m.song_position, st.integers(0, 16383)),
    st.sampled_from([m.timing_clock(), m.start(), m.stop(), m.active_sensing(), m.tune_request()]),
    st.builds(m.sysex, st.binary(max_size=9000).map(lambda b: bytes(x & 0x7F for x in b))),
)


def capture(stream: bytes, cuts: list[int], buffer_size: int = 4096) -> tuple[list[bytes], AllocatorMXF]:
    alloc = new_allocator(64, buffer_size=buffer_size, checked=True)
    sink = CaptureSink(alloc)
    collector = MessageCollector(alloc)
    assert sink.connect_output(collector) == 0
    for flt in (sink, collector):
        for state in (KsState.ACQUIRE, KsState.PAUSE, KsState.RUN):
            flt.set_state(state)
    points = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for time, (start, end) in enumerate(itertools.pairwise(points)):
        for at in range(start, end, 64):
            chain, lost = raw_events(alloc, stream[at:min(at + 64, end)], time, 1)
            assert lost == 0
            if chain is not None:
                sink.put_message(chain)
    got = [msg.data for msg in collector.take()]
    for flt in (sink, collector):  # as the miniports stop: an unfinished SysEx goes back to the pool
        for state in (KsState.PAUSE, KsState.ACQUIRE, KsState.STOP):
            flt.set_state(state)
    return got, alloc


@settings(max_examples=60, deadline=None)
@given(st.lists(MESSAGES, max_size=30), st.lists(st.integers(0, 1 << 20), max_size=20))
def test_any_stream_in_any_cut_comes_out_whole(messages: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(messages)
    got, alloc = capture(stream, cuts)
    expected = [msg.data for msg in m.parse(stream)]
    assert sorted(got) == sorted(expected)  # real-time bytes inside SysEx may come out before it
    assert [g for g in got if g[0] < 0xF8] == [e for e in expected if e[0] < 0xF8]
    alloc.assert_balanced()


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=3000).map(lambda b: b"\xf0" + b), st.lists(st.integers(0, 1 << 20), max_size=10))
def test_garbage_never_leaks_events(stream: bytes, cuts: list[int]) -> None:
    _got, alloc = capture(stream, cuts, buffer_size=64)
    alloc.assert_balanced()
