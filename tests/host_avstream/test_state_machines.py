"""Property tests (B2, B3): whatever the sequence of operations, no frame is created or lost.

Every frame is free in its allocator, queued on the pin, or held by a reference, and every
submitted frame completes exactly once.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from host.avstream import (
    KSMEMORY_TYPE_KERNEL_NONPAGED,
    AllocatorMisuse,
    Dataflow,
    DefaultAllocator,
    Frame,
    KsState,
    NtStatus,
    Pin,
    StreamFrame,
    StreamPointer,
    simple_framing,
    tracking,
)

from .helpers import FakeClock, walk

POOL = 6
SETTINGS = settings(max_examples=60, stateful_step_count=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


class AllocatorMachine(RuleBasedStateMachine):
    """Allocate / free / wait / IRP requests / misuse against a checked default allocator."""

    def __init__(self) -> None:
        super().__init__()
        self._tracking = tracking()
        self._tracking.__enter__()
        self.allocator = DefaultAllocator()
        self.allocator.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, POOL, 7, 100, 100))
        self.other = DefaultAllocator()
        self.other.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, 1, 0, 8, 8))
        self.held: list[Frame] = []
        self.requested: list[Frame] = []

    @rule()
    def allocate(self) -> None:
        frame = self.allocator.allocate()
        if len(self.held) == POOL:
            assert frame is None
        else:
            assert frame is not None and frame not in self.held and frame.address % 8 == 0
            self.held.append(frame)

    @rule()
    def allocate_wait_without_waiting(self) -> None:
        frame = self.allocator.allocate_wait(timeout=0)
        assert (frame is None) == (len(self.held) == POOL)
        if frame is not None:
            self.held.append(frame)

    @rule()
    def irp_request(self) -> None:
        status = self.allocator.request(self.requested.append)
        assert status in (NtStatus.STATUS_SUCCESS, NtStatus.STATUS_PENDING)
        if status == NtStatus.STATUS_SUCCESS:
            self.held.append(self.requested.pop())

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, POOL - 1))
    def free(self, index: int) -> None:
        frame = self.held.pop(index % len(self.held))
        self.allocator.free(frame)
        while self.requested:  # a free completes a pending request with that frame
            self.held.append(self.requested.pop())

    @precondition(lambda self: self.held)
    @rule()
    def double_free_is_caught(self) -> None:
        frame = self.held[0]
        self.allocator.free(frame)
        self.held.pop(0)
        while self.requested:
            self.held.append(self.requested.pop())
        if frame not in self.held:
            with pytest.raises(AllocatorMisuse):
                self.allocator.free(frame)

    @rule()
    def foreign_free_is_caught(self) -> None:
        frame = self.other.allocate()
        assert frame is not None
        with pytest.raises(AllocatorMisuse, match="foreign"):
            self.allocator.free(frame)
        self.other.free(frame)

    @invariant()
    def books_balance(self) -> None:
        a = self.allocator
        assert a.free_count + len(self.held) == POOL
        assert a.counters.outstanding == len(self.held)
        assert {f.index for f in a.leaked_frames()} == {f.index for f in self.held}

    def teardown(self) -> None:
        for request in list(self.allocator._pending):
            self.allocator.cancel_request(request.callback)
        for frame in self.held:
            self.allocator.free(frame)
        self.allocator.delete()
        self.other.delete()
        self._tracking.__exit__(None, None, None)


class StreamPointerMachine(RuleBasedStateMachine):
    """Submit / lock / unlock / advance / offsets / clone / delete / cancel / timeouts / state changes."""

    def __init__(self) -> None:
        super().__init__()
        self._tracking = tracking()
        self._tracking.__enter__()
        self.allocator = DefaultAllocator()
        self.allocator.initialize(None, simple_framing(KSMEMORY_TYPE_KERNEL_NONPAGED, 0, POOL, 0, 16, 16))
        self.clock = FakeClock()
        self.completions: list[StreamFrame] = []
        self.submitted: list[StreamFrame] = []
        self.clones: list[StreamPointer] = []
        self.pin: Pin

    @initialize(trailing=st.booleans(), dataflow=st.sampled_from([Dataflow.IN, Dataflow.OUT]),
                state=st.sampled_from(list(KsState)), driver=st.sampled_from(["pending", "advance", "clone"]))
    def make_pin(self, trailing: bool, dataflow: Dataflow, state: KsState, driver: str) -> None:
        def process(pin: Pin) -> NtStatus:
            # "pending": the rules move every pointer; "advance": drain the queue (SUCCESS until empty);
            # "clone": avshws-like, clone the leading frame for the "hardware", then advance.
            if driver == "pending":
                return NtStatus.STATUS_PENDING
            sp = pin.get_leading_edge()
            if sp is None:
                return NtStatus.STATUS_PENDING
            if driver == "clone":
                self.clones.append(sp.clone())
            sp.advance()
            return NtStatus.STATUS_SUCCESS

        self.pin = Pin(process, dataflow=dataflow, distinct_trailing_edge=trailing, clock=self.clock,
                       on_complete=self.completions.append)
        walk(self.pin, state)

    # -- helpers ---------------------------------------------------------------------------------

    def pointers(self) -> list[StreamPointer]:
        edges = [self.pin._leading] + ([self.pin._trailing] if self.pin._trailing is not None else [])
        return edges + self.clones

    def pick(self, index: int) -> StreamPointer:
        ps = self.pointers()
        return ps[index % len(ps)]

    def forget_deleted(self) -> None:
        self.clones = [c for c in self.clones if not c.deleted]

    # -- rules -----------------------------------------------------------------------------------

    @rule()
    def submit(self) -> None:
        frame = self.allocator.allocate()
        if frame is not None:
            self.submitted.append(self.pin.submit(frame))

    @rule(index=st.integers(0, 20), locked=st.booleans())
    def get_edge(self, index: int, locked: bool) -> None:
        if index % 2 and self.pin._trailing is not None:
            edge = self.pin.get_trailing_edge(locked)
        else:
            edge = self.pin.get_leading_edge(locked)
        if edge is not None:  # "KsPinGetLeadingEdgeStreamPointer function": UNLOCKED even on no frame
            assert edge.locked == locked and (edge.frame is not None or not locked)
        else:
            assert locked

    @rule(index=st.integers(0, 20))
    def lock(self, index: int) -> None:
        p = self.pick(index)
        status = p.lock()
        assert (status == NtStatus.STATUS_SUCCESS) == (p.frame is not None and not p.frame.cancelled)

    @rule(index=st.integers(0, 20), eject=st.booleans())
    def unlock(self, index: int, eject: bool) -> None:
        p = self.pick(index)
        if p.locked:
            p.unlock(eject)

    @rule(index=st.integers(0, 20))
    def advance(self, index: int) -> None:
        p = self.pick(index)
        was_locked, was_on = p.locked, p.frame
        status = p.advance()
        if not was_locked:  # "KsStreamPointerAdvance function": an unlocked advance always succeeds
            assert status == NtStatus.STATUS_SUCCESS and not p.locked
        elif status == NtStatus.STATUS_SUCCESS:
            assert p.frame is not None and p.frame is not was_on and p.locked

    @rule(index=st.integers(0, 20), fraction=st.floats(0, 1), eject=st.booleans())
    def advance_offsets(self, index: int, fraction: float, eject: bool) -> None:
        p = self.pick(index)
        if not p.locked:
            return
        used_in = int(p.offset_in.remaining * fraction)
        used_out = int(p.offset_out.remaining * fraction)
        p.advance_offsets(used_in, used_out, eject)

    @rule(index=st.integers(0, 20))
    def clone(self, index: int) -> None:
        p = self.pick(index)
        if p.frame is not None and not (p.locked and p.frame.cancelled):
            c = p.clone()
            assert c.frame is p.frame and c.locked == p.locked
            self.clones.append(c)

    @precondition(lambda self: self.clones)
    @rule(index=st.integers(0, 20))
    def delete_clone(self, index: int) -> None:
        self.clones.pop(index % len(self.clones)).delete()

    @precondition(lambda self: self.pin.queued)
    @rule(index=st.integers(0, 20))
    def cancel(self, index: int) -> None:
        frames = self.pin.frames()
        sf = frames[index % len(frames)]
        expected = sf.locks == 0 and not sf.cancelled
        assert self.pin.cancel(sf) == expected

    @precondition(lambda self: self.clones)
    @rule(index=st.integers(0, 20), interval=st.integers(0, 30_000_000))
    def schedule_timeout(self, index: int, interval: int) -> None:
        self.clones[index % len(self.clones)].schedule_timeout(lambda p: p.delete(), interval)

    @rule(dt=st.floats(0, 2))
    def time_passes(self, dt: float) -> None:
        self.clock.now += dt
        self.pin.run_timeouts()
        self.forget_deleted()

    @rule(up=st.booleans())
    def step_state(self, up: bool) -> None:
        state = self.pin.state
        if up and state < KsState.RUN:
            self.pin.set_state(KsState(state + 1))
        elif not up and state > KsState.STOP:
            self.pin.set_state(KsState(state - 1))
        self.forget_deleted()

    @rule()
    def attempt_processing(self) -> None:
        self.pin.attempt_processing()

    # -- invariants ------------------------------------------------------------------------------

    @invariant()
    def no_frame_created_or_lost(self) -> None:
        if not hasattr(self, "pin"):
            return
        pin = self.pin
        queued = pin.frames()
        assert len(queued) == pin.queued
        assert self.allocator.free_count + pin.queued == POOL
        assert len(self.completions) == len({id(c) for c in self.completions})  # exactly once
        assert len(self.completions) + pin.queued == len(self.submitted) == pin.submitted
        assert all(sf.completed for sf in self.completions) and not any(sf.completed for sf in queued)
        assert [sf.seq for sf in queued] == sorted(sf.seq for sf in queued)

    @invariant()
    def references_and_locks_match_pointers(self) -> None:
        if not hasattr(self, "pin"):
            return
        pointers = [p for p in self.pointers() if not p.deleted]
        for sf in self.pin.frames():
            on = [p for p in pointers if p.frame is sf]
            assert sf.refs == len(on)
            assert sf.locks == sum(p.locked for p in on)
        for p in pointers:
            assert p.frame is None or not p.frame.completed
            assert p.frame is not None or not p.locked
            for off in (p.offset_in, p.offset_out):
                assert 0 <= off.remaining <= off.count
        lead, trail = self.pin._leading.frame, self.pin._trailing.frame if self.pin._trailing else None
        assert lead is None or not lead.cancelled
        if self.pin._trailing is not None:
            if trail is None:
                assert lead is None  # the trailing edge never passes the leading edge
            elif lead is not None:
                assert trail.seq <= lead.seq

    def teardown(self) -> None:
        if hasattr(self, "pin"):
            walk(self.pin, KsState.STOP)
            assert self.pin.queued == 0 and len(self.completions) == len(self.submitted)
        assert self.allocator.free_count == POOL
        self.allocator.delete()
        self._tracking.__exit__(None, None, None)


TestAllocatorMachine = pytest.mark.spec("B2")(AllocatorMachine.TestCase)
TestAllocatorMachine.settings = SETTINGS
TestStreamPointerMachine = pytest.mark.spec("B3")(StreamPointerMachine.TestCase)
TestStreamPointerMachine.settings = SETTINGS
