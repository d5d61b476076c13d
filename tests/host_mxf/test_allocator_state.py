"""A2: allocator state machine — any sequence of GetMessage/GetBuffer/chain/package/PutMessage keeps
every event and buffer accounted for, exactly once, and double frees are caught."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from host.mxf import event as ev
from host.mxf.allocator_factory import new_allocator
from host.mxf.buffer import MxfBuffer
from host.mxf.errors import DoubleFree
from host.mxf.event import KernelEvent

POOL = 8
BUFFERS = 4


def structure(head: KernelEvent) -> tuple[list[KernelEvent], list[MxfBuffer]]:
    """Every event and owned buffer reachable from a head (chains and package chains)."""
    events: list[KernelEvent] = []
    buffers: list[MxfBuffer] = []
    todo: list[KernelEvent | None] = [head]
    while todo:
        evt = todo.pop()
        while evt is not None:
            events.append(evt)
            if evt.cb_event > evt.pointer_size:
                if isinstance(evt.u_data, KernelEvent):
                    todo.append(evt.u_data)
                elif isinstance(evt.u_data, MxfBuffer):
                    buffers.append(evt.u_data)
            evt = evt.p_next_evt
    return events, buffers


def bare(evt: KernelEvent) -> bool:
    """The event holds no data (it can become a package header)."""
    return evt.cb_event == 0 and evt.u_data == b""


class AllocatorMachine(RuleBasedStateMachine):
    """Model: the heads of the structures the test holds, loose buffers, and freed events."""

    def __init__(self) -> None:
        super().__init__()
        self.alloc = new_allocator(POOL, checked=True, buffer_size=16, buffer_count=BUFFERS)
        self.heads: list[KernelEvent] = []
        self.loose: list[MxfBuffer] = []
        self.freed: list[KernelEvent] = []
        self.exhaustions = 0
        self.gets = 0

    def held(self) -> tuple[int, int]:
        """Events and buffers the model says the test holds."""
        events = buffers = 0
        for head in self.heads:
            e, b = structure(head)
            events += len(e)
            buffers += len(b)
        return events, buffers + len(self.loose)

    @rule()
    def get_message(self) -> None:
        """GetMessage: an event unless all are out."""
        evt = self.alloc.get_message()
        if self.held()[0] == POOL:
            assert evt is None
            self.exhaustions += 1
        else:
            assert evt is not None and evt.cb_event == 0 and evt.p_next_evt is None and evt.u_data == b""
            self.heads.append(evt)
            self.gets += 1

    @rule()
    def get_buffer(self) -> None:
        """GetBuffer: a buffer unless all are out."""
        buf = self.alloc.get_buffer()
        if self.held()[1] == BUFFERS:
            assert buf is None
        else:
            assert buf is not None and len(buf) == 16
            self.loose.append(buf)

    @precondition(lambda self: any(h.cb_event == 0 and h.p_next_evt is None for h in self.heads))
    @rule(i=st.integers(0, 99), n=st.integers(0, 8))
    def set_short(self, i: int, n: int) -> None:
        """Give a bare event inline data."""
        bare = [h for h in self.heads if h.cb_event == 0 and h.p_next_evt is None]
        evt = bare[i % len(bare)]
        evt.u_data = bytes(range(n))
        evt.cb_event = n

    @precondition(lambda self: self.loose and any(h.cb_event == 0 for h in self.heads))
    @rule(i=st.integers(0, 99), n=st.integers(9, 16))
    def attach_buffer(self, i: int, n: int) -> None:
        """Give a bare event a loose buffer as pbData."""
        bare = [h for h in self.heads if h.cb_event == 0]
        evt = bare[i % len(bare)]
        evt.u_data = self.loose.pop()
        evt.cb_event = n

    @precondition(lambda self: len(self.heads) >= 2)
    @rule(i=st.integers(0, 99), j=st.integers(0, 99))
    def chain(self, i: int, j: int) -> None:
        """Link one structure to the end of another's pNextEvt chain."""
        a = self.heads[i % len(self.heads)]
        rest = [h for h in self.heads if h is not a]
        b = rest[j % len(rest)]
        tail = a
        while tail.p_next_evt is not None:
            tail = tail.p_next_evt
        tail.p_next_evt = b
        self.heads.remove(b)

    @precondition(lambda self: len(self.heads) >= 2 and any(bare(h) for h in self.heads))
    @rule(i=st.integers(0, 99), j=st.integers(0, 99))
    def package(self, i: int, j: int) -> None:
        """Make a bare event the package header of another structure."""
        bares = [h for h in self.heads if bare(h)]
        header = bares[i % len(bares)]
        rest = [h for h in self.heads if h is not header]
        inner = rest[j % len(rest)]
        ev.make_package(header, inner)
        self.heads.remove(inner)

    @precondition(lambda self: self.heads)
    @rule(i=st.integers(0, 99))
    def put_message(self, i: int) -> None:
        """PutMessage a whole structure."""
        head = self.heads.pop(i % len(self.heads))
        events, _ = structure(head)
        self.alloc.put_message(head)
        self.freed.extend(events)

    @precondition(lambda self: self.loose)
    @rule()
    def put_buffer(self) -> None:
        """PutBuffer a loose buffer."""
        self.alloc.put_buffer(self.loose.pop())

    @precondition(lambda self: self.freed)
    @rule(i=st.integers(0, 99))
    def double_free(self, i: int) -> None:
        """PutMessage of an event already free must raise DoubleFree."""
        evt = self.freed[i % len(self.freed)]
        if any(evt in structure(h)[0] for h in self.heads):
            return  # it was taken again: not free
        with pytest.raises(DoubleFree):
            self.alloc.put_message(evt)

    @invariant()
    def books_match_model(self) -> None:
        """The allocator's counters agree with the model."""
        events, buffers = self.held()
        st_ = self.alloc.stats()
        assert st_.outstanding == events and st_.free == POOL - events
        assert st_.buffers_out == buffers
        assert st_.exhaustions == self.exhaustions and st_.gets == self.gets
        assert st_.puts == st_.gets - events
        assert len(self.alloc.leaks()) == events + buffers

    def teardown(self) -> None:
        """Give everything back; the pool must be full again."""
        for head in self.heads:
            self.alloc.put_message(head)
        for buf in self.loose:
            self.alloc.put_buffer(buf)
        self.alloc.assert_balanced()


AllocatorMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_allocator_state_machine = pytest.mark.spec("A2")(AllocatorMachine.TestCase)
