"""A hypothesis state machine over the frame miniport on a fresh loopback board in ECHO mode: random
pin states, submits (some refused by a full ring), processing and receives. Invariants: every frame
of both pools is free, queued or held; whatever went out comes back in order with no sequence gap;
at the end, after STOP and a drain, pools are full and device and host books agree."""

from __future__ import annotations

import contextlib

import pytest
import usb.core
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from rig import contract as c
from rig.client.board import Board
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard
from rig.miniport import MiniportTimeout, PoolExhausted
from rig.miniport.frame_pins import FrameMiniport, PinState


class FramePins(RuleBasedStateMachine):
    """Model: `sent` are payloads the device accepted, `received` those that came back."""

    def __init__(self) -> None:
        super().__init__()
        self.loopback = LoopbackBoard(console_pty=False)
        device = usb.core.find(idVendor=c.VID, idProduct=c.PID, backend=LinkBackend([self.loopback]))
        assert device is not None
        self.board = Board(device, timeout_ms=20)
        self.board.reset_stats()
        self.board.set_frame_mode(c.FrameMode.ECHO)
        self.miniport = FrameMiniport(self.board)
        self.miniport.connect()
        self.sent: list[bytes] = []
        self.pending: list[bytes] = []
        """Submitted, not yet sent, not flushed (oldest first)."""
        self.received: list[bytes] = []
        self.counter = 0
        self.accounted = 0

    def _sync(self) -> None:
        """Move what the render pin has sent since the last look from `pending` to `sent`."""
        render = self.miniport.render
        done = render.counters.completed - self.accounted
        self.sent += self.pending[:done]
        del self.pending[:done]
        self.accounted = render.counters.completed
        if render.queued < len(self.pending):  # STOP flushed them: they never reached the device
            del self.pending[render.queued:]

    @rule(state=st.sampled_from(list(PinState)), which=st.sampled_from(["render", "capture", "both"]))
    def set_state(self, state: PinState, which: str) -> None:
        with contextlib.suppress(MiniportTimeout):  # reaching RUN sends what waits; the ring may be full
            if which == "both":
                self.miniport.set_state(state)
            else:
                getattr(self.miniport, which).set_state(state)
        self._sync()

    @precondition(lambda self: self.miniport.render.state != PinState.STOP)
    @rule(size=st.sampled_from([0, 1, 63, 64, 65, 500, 4096]))
    def submit(self, size: int) -> None:
        self.counter += 1
        payload = bytes((self.counter + i) & 0xFF for i in range(size))
        render = self.miniport.render
        if render.allocator.free_count == 0:
            with pytest.raises(PoolExhausted, match="no free frame"):
                render.submit(payload)
            return
        self.pending.append(payload)
        with contextlib.suppress(MiniportTimeout):  # a full ring: the frame waits at the leading edge
            render.submit(payload)
        self._sync()

    @precondition(lambda self: self.miniport.render.state == PinState.RUN)
    @rule()
    def process(self) -> None:
        with contextlib.suppress(MiniportTimeout):
            self.miniport.render.process()
        self._sync()

    @precondition(lambda self: self.miniport.capture.state == PinState.RUN
                  and len(self.sent) > len(self.received))
    @rule()
    def receive(self) -> None:
        with self.miniport.receive() as frame:
            assert frame.tobytes() == self.sent[len(self.received)]
            self.received.append(frame.tobytes())

    @invariant()
    def queued_frames_are_the_pending_ones(self) -> None:
        assert self.miniport.render.queued == len(self.pending)

    @invariant()
    def every_frame_is_free_queued_or_held(self) -> None:
        render, capture = self.miniport.pins
        assert render.allocator.free_count + render.queued == render.allocator.frame_count
        assert capture.allocator.free_count + capture.queued + capture.held == capture.allocator.frame_count
        assert capture.counters.seq_gaps == 0

    def teardown(self) -> None:
        try:
            miniport = self.miniport
            miniport.render.set_state(PinState.STOP)
            self._sync()
            miniport.capture.set_state(PinState.RUN)
            while len(self.received) < len(self.sent):
                with miniport.receive() as frame:
                    self.received.append(frame.tobytes())
            assert self.received == self.sent
            miniport.stop()
            assert miniport.books() == []
            miniport.close()
            assert self.board.unbalanced() == []
            assert self.board.stats().frames_rx == len(self.sent)
        finally:
            self.board.close()
            self.loopback.close()


FramePins.TestCase.settings = settings(max_examples=30, stateful_step_count=30, deadline=None)
test_frame_pins = FramePins.TestCase
