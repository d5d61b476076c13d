"""A3: the Sequencer — time-stamp order, SchedulePreFetch, ties, late events, states."""

from __future__ import annotations

import pytest

from host.ks.state import KsState
from host.ks.status import NtStatus
from host.mxf.allocator import AllocatorMXF
from host.mxf.clock import ManualClock, MonotonicClock
from host.mxf.event import KernelEvent
from host.mxf.sequencer import Sequencer

from .helpers import Collector, event


def make(alloc: AllocatorMXF, clock: ManualClock, prefetch: int = 0) -> tuple[Sequencer, Collector]:
    """A sequencer whose output is collected."""
    s, c = Sequencer(alloc, clock, prefetch), Collector(alloc)
    s.connect_output(c)
    return s, c


@pytest.mark.spec("A3")
def test_releases_in_time_stamp_order(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3: events are reordered by time stamp and released when due."""
    s, c = make(alloc, clock)
    s.set_state(KsState.RUN)
    for t in (300, 100, 200):
        s.put_message(event(alloc, b"\x90\x40\x7f", t))
    assert c.got == [] and len(s) == 3 and s.next_due_100ns() == 100
    s.advance_to(150)
    assert [e.ull_pres_time_100ns for e in c.got] == [100]
    s.advance_to(1000)
    assert [e.ull_pres_time_100ns for e in c.got] == [100, 200, 300]
    assert s.released == 3 and len(s) == 0 and s.next_due_100ns() is None
    c.release()


@pytest.mark.spec("A3")
@pytest.mark.parametrize(("prefetch", "pres_time"), [(0, 50), (10_000, 50_000)],
                         ids=["at-presentation-time", "prefetch-releases-early"])
def test_due_at_presentation_time_less_prefetch(alloc: AllocatorMXF, clock: ManualClock, prefetch: int,
                                                pres_time: int) -> None:
    """A3: due means masterTime >= ullPresTime100ns - SchedulePreFetch (inclusive): at exactly its
    presentation time without prefetch, that much earlier with it."""
    s, c = make(alloc, clock, prefetch=prefetch)
    s.set_state(KsState.RUN)
    s.put_message(event(alloc, b"\xf8", pres_time))
    s.advance_to(pres_time - prefetch - 1)
    assert c.got == []
    s.advance_to(pres_time - prefetch)
    assert len(c.got) == 1
    c.release()


@pytest.mark.spec("A3")
def test_ties_keep_arrival_order(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3: equal time stamps are released in arrival order — one allowed order, since "Messages
    stamped with the same time do not necessarily play in the same order in which they were placed
    in the buffer" ("IDirectMusicBuffer8::PackStructured", "IDirectMusicBuffer8::PackUnstructured")."""
    s, c = make(alloc, clock)
    s.set_state(KsState.PAUSE)
    for note in range(10):
        s.put_message(event(alloc, bytes([0x90, note, 1]), 500))
    s.set_state(KsState.RUN)
    s.advance_to(500)
    assert [e.data[1] for e in c.got] == list(range(10))
    c.release()


@pytest.mark.spec("A3")
def test_all_due_at_once_keeps_time_then_arrival_order(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3: when everything queued falls due in one service (released by one sort, not a pop each),
    the order is still time stamp, then arrival (ties: arrival order, one order the pages allow)."""
    s, c = make(alloc, clock)
    s.set_state(KsState.RUN)
    times = [700, 300, 700, 100, 300, 900, 100]
    for index, t in enumerate(times):
        s.put_message(event(alloc, bytes([0x90, index, 1]), t))
    s.advance_to(900)
    expected = sorted(range(len(times)), key=lambda i: (times[i], i))
    assert [e.data[1] for e in c.got] == expected and s.released == len(times) and len(s) == 0
    c.release()


class _FailingSink(Collector):
    """Keeps every chain, and raises on the third: what a sink that fails part way does."""

    def put_message(self, evt: KernelEvent | None) -> NtStatus:
        status = super().put_message(evt)
        if len(self.got) == 3:
            raise RuntimeError("sink failed")
        return status


@pytest.mark.spec("A3")
def test_sink_failing_part_way_keeps_the_rest_queued(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3: a sink that raises while a due batch is released leaves the chains after it queued, as a
    heappop-per-chain release would (the chain it failed on is the sink's)."""
    s, c = Sequencer(alloc, clock), _FailingSink(alloc)
    s.connect_output(c)
    s.set_state(KsState.RUN)
    for t in (10, 20, 30, 40, 50):
        s.put_message(event(alloc, b"\xf8", t))
    with pytest.raises(RuntimeError, match="sink failed"):
        s.advance_to(100)
    assert [e.ull_pres_time_100ns for e in c.got] == [10, 20, 30] and len(s) == 2 and s.next_due_100ns() == 40
    assert s.released == 3
    c.release()
    s.set_state(KsState.STOP)


@pytest.mark.spec("A3")
def test_late_events_released_at_once_and_counted(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3: an event already past its time is played late, not dropped ("Latency Clocks",
    "KSPROPERTY_SYNTH_LATENCYCLOCK": scheduled too early it "risks having the data played late"):
    released at once and counted late."""
    s, c = make(alloc, clock)
    s.set_state(KsState.RUN)
    clock.set(1000)
    s.put_message(event(alloc, b"\xf8", 10))
    assert len(c.got) == 1 and s.late == 1
    s.put_message(event(alloc, b"\xf8", 1000))
    assert len(c.got) == 2 and s.late == 1
    c.release()


@pytest.mark.spec("A2")
@pytest.mark.parametrize("state", [KsState.ACQUIRE, KsState.PAUSE])
def test_non_run_states_hold(alloc: AllocatorMXF, clock: ManualClock, state: KsState) -> None:
    """A2: render in any state but RUN holds data ("messages cannot be passed downstream")."""
    s, c = make(alloc, clock)
    s.set_state(state)
    s.put_message(event(alloc, b"\xf8", 0))
    s.advance_to(10_000)
    assert c.got == [] and len(s) == 1
    s.set_state(KsState.RUN)
    assert len(c.got) == 1
    c.release()


@pytest.mark.spec("A2")
def test_stop_discards_to_allocator(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A2: in STOP render discards held data to the allocator, including new arrivals."""
    s, c = make(alloc, clock)
    s.set_state(KsState.PAUSE)
    for t in (5, 1, 3):
        s.put_message(event(alloc, b"\xf0" + bytes(20) + b"\xf7", t))
    assert alloc.stats().outstanding == 3
    s.set_state(KsState.STOP)
    assert len(s) == 0 and s.discarded == 3
    s.put_message(event(alloc, b"\xf8", 0))
    assert s.discarded == 4 and c.got == []
    st = alloc.stats()
    assert st.outstanding == 0 and st.buffers_out == 0


@pytest.mark.spec("A1")
def test_chain_travels_as_one_unit(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A1: a pNextEvt chain of identically stamped events is released whole."""
    s, c = make(alloc, clock)
    s.set_state(KsState.RUN)
    head = event(alloc, b"\x90\x40\x7f", 20)
    head.p_next_evt = event(alloc, b"\x90\x41\x7f", 20)
    s.put_message(head)
    s.advance_to(20)
    assert c.got == [head] and len(head.chain()) == 2
    c.release()


@pytest.mark.spec("A2")
def test_put_none_and_service_outside_run(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A2: PutMessage(NULL) is a no-op; service() outside RUN releases nothing."""
    s, _ = make(alloc, clock)
    assert s.put_message(None) == NtStatus.STATUS_SUCCESS
    assert s.service() == NtStatus.STATUS_SUCCESS


@pytest.mark.spec("A3")
def test_advance_to_needs_manual_clock(alloc: AllocatorMXF) -> None:
    """A3: advance_to drives a ManualClock; a real clock is read, not set."""
    s = Sequencer(alloc, MonotonicClock())
    with pytest.raises(TypeError, match="ManualClock"):
        s.advance_to(10)
    with pytest.raises(ValueError, match="SchedulePreFetch"):
        Sequencer(alloc, MonotonicClock(), -1)


@pytest.mark.spec("A2")
def test_unconnected_sequencer_releases_to_allocator(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A2: with no ConnectOutput, due events go to the allocator."""
    s = Sequencer(alloc, clock)
    s.set_state(KsState.RUN)
    s.put_message(event(alloc, b"\xf8", 0))
    assert alloc.stats().outstanding == 0


@pytest.mark.spec("A3")
def test_presentation_clock_master_never_pauses(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A3 [UNVERIFIED] presentation_clock="master" (default): time stamps are master-clock times and
    "the master clock ... never pauses" ("Latency Clocks"); PAUSE does not shift when events fall due."""
    s, c = make(alloc, clock)
    s.set_state(KsState.RUN)
    s.put_message(event(alloc, b"\xf8", 1000))
    s.set_state(KsState.PAUSE)
    clock.set(900)
    s.set_state(KsState.RUN)
    assert s.next_due_100ns() == 1000
    s.advance_to(1000)
    assert len(c.got) == 1
    c.release()


@pytest.mark.spec("A1", "A3")
def test_presentation_clock_stream_stands_still_and_resets(alloc: AllocatorMXF, clock: ManualClock) -> None:
    """A1/A3 [UNVERIFIED] presentation_clock="stream": ullPresTime100ns "does not advance during
    KSSTATE_PAUSE and KSSTATE_STOP, and is reset during KSSTATE_STOP" ("DMUS_KERNEL_EVENT
    structure"): stream time counts master time in RUN since the last STOP."""
    s, c = Sequencer(alloc, clock, presentation_clock="stream"), Collector(alloc)
    s.connect_output(c)
    clock.set(10_000)
    s.set_state(KsState.RUN)  # stream time 0 at master 10 000
    s.put_message(event(alloc, b"\xf8", 500))
    assert s.next_due_100ns() == 10_500
    s.advance_to(10_200)
    s.set_state(KsState.PAUSE)  # stream time stands at 200
    clock.set(50_000)
    assert s.stream_time_100ns() == 200 and c.got == []
    s.set_state(KsState.RUN)
    assert s.next_due_100ns() == 50_300
    s.advance_to(50_299)
    assert c.got == []
    s.advance_to(50_300)
    assert len(c.got) == 1
    c.release()
    s.set_state(KsState.STOP)  # reset
    assert s.stream_time_100ns() == 0
    s.set_state(KsState.RUN)
    s.put_message(event(alloc, b"\xf8", 100))
    assert c.got == [] and s.late == 0
    s.advance_to(50_400)
    assert len(c.got) == 1
    c.release()
    with pytest.raises(ValueError, match="presentation_clock"):
        Sequencer(alloc, clock, presentation_clock="wall")  # type: ignore[arg-type]
