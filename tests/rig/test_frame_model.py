"""A property test: any interleaving of frame writes and reads on the loopback behaves like a FIFO of
FRAME_RING_SLOTS frames (writes NAK exactly when it is full, reads time out exactly when it is empty),
and the counters balance with the host's at the end."""

from __future__ import annotations

from collections import deque

import usb.core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rig import contract as c
from rig.contract import frame_wire as frames
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard, ManualClock

READ_SIZE = 20 * 1024
ops = st.lists(st.one_of(st.integers(0, 300), st.just(-1)), max_size=40)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_ring_is_a_bounded_fifo(operations: list[int]) -> None:
    board = LoopbackBoard(clock=ManualClock(), console_pty=False)
    try:
        dev = usb.core.find(backend=LinkBackend([board]))
        dev.set_configuration()
        model: deque[bytes] = deque()
        seq_out = 0
        sent = received = bytes_sent = 0
        fills = 0
        for op in operations:
            if op >= 0:
                payload = frames.source_payload(seq_out, op)
                try:
                    dev.write(c.EP_FRAME_OUT, frames.encode(payload, seq_out), 1)
                except usb.core.USBTimeoutError:
                    assert len(model) == c.FRAME_RING_SLOTS
                    continue
                assert len(model) < c.FRAME_RING_SLOTS
                model.append(payload)
                fills += len(model) == c.FRAME_RING_SLOTS
                seq_out += 1
                sent += 1
                bytes_sent += op
            else:
                try:
                    frame = frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1)))
                except usb.core.USBTimeoutError:
                    assert not model
                    continue
                assert bytes(frame.payload) == model.popleft() and frame.seq == received
                received += 1
        while model:
            frame = frames.decode(bytes(dev.read(c.EP_FRAME_IN, READ_SIZE, 1000)))
            assert bytes(frame.payload) == model.popleft()
            received += 1
        s = board.stats()
        assert (s["frames_rx"], s["frames_tx"], s["frames_seq_gap"]) == (sent, received, 0)
        assert s["frame_bytes_rx"] == s["frame_bytes_tx"] == bytes_sent
        assert s["ring_full_naks"] == fills
    finally:
        board.close()
