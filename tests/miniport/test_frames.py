"""The frame miniport against the loopback board: allocator negotiation from the device's framing,
frames through both pins in ECHO mode, STOP flushing, and the error paths (NAKed writes, silent
device, garbage frames, a caller holding every frame), each ending with the books checked."""

from __future__ import annotations

import struct

import pytest

from host.avstream import (
    AllocatorContext,
    AllocatorFraming,
    AllocatorInitError,
    CommonBufferAllocator,
    NtStatus,
)
from rig import contract as c
from rig.client.board import Board
from rig.contract import frame_wire as wire
from rig.miniport import DeviceGarbage, MiniportError, MiniportTimeout, PinStateError, PoolExhausted
from rig.miniport.frame_pins import HEADER_SIZE, FrameMiniport, PinState

from .conftest import FaultyLink, Rewrite

SIZES = [0, 1, 63, 64, 65, 4095, 4096, 4097, c.FRAME_MAX_PAYLOAD]


def payload(n: int, salt: int = 0) -> bytes:
    return bytes((i * 7 + salt) & 0xFF for i in range(n))


def balanced(board: Board, miniport: FrameMiniport) -> None:
    miniport.stop()
    assert miniport.books() == []
    assert board.unbalanced() == []


def test_vendor_allocator_chosen_from_device_framing(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        assert m.framing is not None
        item = m.framing.items[0]
        assert item.frames == c.FRAME_RING_SLOTS
        assert item.alignment_mask == c.FRAME_ALIGNMENT_MASK
        for choice in m.choices:
            assert not choice.is_default
            assert choice.allocator.startswith("common-buffer")
            assert "meets framing item 0" in choice.reason
            assert choice.frame_size == HEADER_SIZE + c.FRAME_MAX_PAYLOAD
            assert choice.frames == c.FRAME_RING_SLOTS
            assert isinstance(m.render.allocator, CommonBufferAllocator)
            assert choice.pin in choice.describe()


def test_user_mode_connection_rejects_the_kernel_vendor_allocator(board: Board) -> None:
    with FrameMiniport(board, kernel_mode=False) as m:
        for choice in m.choices:
            assert choice.is_default
            (verdict,) = choice.candidates
            assert not verdict.accepted
            assert verdict.reason == "kernel-mode allocator on a user-mode connection"


def test_no_vendor_means_default_allocator(board: Board) -> None:
    with FrameMiniport(board, vendor=None) as m:
        assert all(ch.is_default and ch.reason == "no vendor allocator offered" for ch in m.choices)


def test_vendor_that_fails_initialize_falls_back_to_default(board: Board) -> None:
    # Big enough for the device's framing, so selection accepts it on its capabilities; its
    # InitializeAllocator then reports a failure status (what a driver whose DMA adapter or common
    # buffer is unavailable at connect time returns), and the default allocator takes over.
    class Refusing(CommonBufferAllocator):
        def _initialize(self, pin: object, framing: AllocatorFraming) -> AllocatorContext:
            raise AllocatorInitError(f"{self.name}: no common buffer today",
                                     NtStatus.STATUS_INSUFFICIENT_RESOURCES)

    def refusing(pin: str, _framing: object) -> CommonBufferAllocator:
        return Refusing(1 << 20, name=f"refusing {pin}")

    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board, vendor=refusing) as m:
        for choice in m.choices:
            (verdict,) = choice.candidates
            assert verdict.accepted and verdict.chosen, verdict.reason  # capabilities met: chosen
            assert choice.is_default and choice.allocator == f"default {choice.pin}"
            assert choice.fallback is not None
            assert f"refusing {choice.pin} failed InitializeAllocator" in choice.fallback
        render = m.render.choice
        assert "no common buffer today" in render.describe()
        m.run()
        assert [e.payload for e in m.roundtrip([payload(10)])] == [payload(10)]
        balanced(board, m)


def test_common_buffer_too_small_for_any_frame_is_rejected_and_never_initialized(board: Board) -> None:
    made: list[CommonBufferAllocator] = []

    def tiny(pin: str, _framing: object) -> CommonBufferAllocator:
        made.append(CommonBufferAllocator(HEADER_SIZE * 2, name=f"tiny {pin}"))
        return made[-1]

    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board, vendor=tiny) as m:
        for choice in m.choices:
            (verdict,) = choice.candidates
            assert not verdict.accepted
            assert f"{c.FRAME_RING_SLOTS} frames in {HEADER_SIZE * 2} bytes" in verdict.reason
            assert choice.is_default and choice.fallback is None
        assert all(a.state == "new" for a in made) and len(made) == 2
        m.run()
        assert [e.payload for e in m.roundtrip([payload(10)])] == [payload(10)]
        balanced(board, m)


def test_small_common_buffer_gives_smaller_frames(board: Board) -> None:
    def small(pin: str, _framing: object) -> CommonBufferAllocator:
        return CommonBufferAllocator(8 * 4096, name=f"small {pin}")

    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board, vendor=small) as m:
        assert all(not ch.is_default and ch.frame_size * ch.frames <= 8 * 4096 for ch in m.choices)
        m.run()
        limit = m.render.max_payload
        assert limit == m.render.frame_size - HEADER_SIZE < c.FRAME_MAX_PAYLOAD
        with pytest.raises(ValueError, match=f"exceeds the pin's {limit}-byte maximum"):
            m.send(bytes(limit + 1))
        assert [e.payload for e in m.roundtrip([payload(limit)])] == [payload(limit)]
        balanced(board, m)


@pytest.mark.parametrize("vendor", [True, False], ids=["common-buffer", "default"])
def test_echo_every_size_through_both_pins(board: Board, vendor: bool) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with (FrameMiniport(board) if vendor else FrameMiniport(board, vendor=None)) as m:
        m.run()
        sent = [payload(n, salt) for salt, n in enumerate(SIZES * 2)]
        echoed = m.roundtrip(sent)
        assert [e.payload for e in echoed] == sent
        assert [e.seq for e in echoed] == list(range(len(sent)))
        assert all(e.flags == c.FrameFlag.ECHOED for e in echoed)
        assert all(e.tx_time_us >= e.rx_time_us for e in echoed)
        assert m.render.counters.completed == m.capture.counters.completed == len(sent)
        assert m.render.counters.bytes == sum(map(len, sent))
        balanced(board, m)
        stats = board.stats()
        assert stats.frames_rx == stats.frames_tx == len(sent)


def test_frames_land_in_allocator_frames(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.run()
        m.send(b"abc")
        frame = m.receive()
        assert frame.frame.allocator is m.capture.allocator
        assert bytes(frame.frame.buffer[HEADER_SIZE:HEADER_SIZE + 3]) == b"abc"
        assert m.capture.held == 1
        frame.release()
        frame.release()  # idempotent
        with pytest.raises(PinStateError, match="after release"):
            frame.tobytes()
        balanced(board, m)


def test_stop_flushes_queued_frames_back_to_the_allocator(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.set_state(PinState.PAUSE)
        for n in (1, 2, 3):
            m.send(payload(n))
        assert m.render.queued == 3
        assert m.render.allocator.free_count == m.render.allocator.frame_count - 3
        m.stop()
        assert m.render.counters.flushed == 3
        assert m.render.counters.completed == 0
        assert m.render.pool_full and m.capture.pool_full
        assert board.stats().frames_rx == 0
        assert board.unbalanced() == []
        m.run()
        (echoed,) = m.roundtrip([b"next"])
        assert echoed.seq == 0  # flushed frames gave their sequence numbers back
        balanced(board, m)


def test_paused_frames_go_out_on_run(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.set_state(PinState.PAUSE)
        m.send(b"x")
        assert board.stats().frames_rx == 0
        m.run()
        assert board.stats().frames_rx == 1
        with m.receive() as frame:
            assert frame.tobytes() == b"x"
        balanced(board, m)


def test_states_step_one_at_a_time_and_stopped_pins_refuse_work(board: Board) -> None:
    with FrameMiniport(board) as m:
        assert m.render.state == PinState.STOP
        with pytest.raises(PinStateError, match="stopped"):
            m.send(b"x")
        with pytest.raises(PinStateError, match="receive while the pin is STOP"):
            m.receive()
        m.run()
        assert m.render.state == m.capture.state == PinState.RUN
        m.stop()
        assert m.render.pool_full


def test_payload_beyond_the_frame_is_refused(board: Board) -> None:
    with FrameMiniport(board) as m:
        m.run()
        with pytest.raises(ValueError, match="exceeds the pin's 16384-byte maximum"):
            m.send(bytes(c.FRAME_MAX_PAYLOAD + 1))
        balanced(board, m)


def test_sink_mode_device_counts_what_the_render_pin_sent(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.SINK)
    with FrameMiniport(board) as m:
        m.run()
        for n in SIZES:
            m.send(payload(n))
        with pytest.raises(MiniportTimeout):
            m.receive(timeout_ms=50)
        stats = board.stats()
        assert stats.frames_rx == len(SIZES) and stats.frame_bytes_rx == sum(SIZES)
        assert stats.frames_tx == 0
        balanced(board, m)


def test_source_mode_frames_arrive_in_sequence(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.SOURCE, payload_len=100, count=20)
    with FrameMiniport(board) as m:
        m.restart_sequences()
        m.run()
        for seq in range(20):
            with m.receive() as frame:
                assert frame.seq == seq
                assert frame.flags == c.FrameFlag.SOURCED
                assert frame.tobytes() == wire.source_payload(seq, 100)
        assert m.capture.counters.seq_gaps == 0
        balanced(board, m)


def test_write_timeout_names_board_and_endpoint_and_keeps_the_frame(board: Board, link: FaultyLink) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.run()
        link.write_timeouts.add(c.EP_FRAME_OUT)
        with pytest.raises(MiniportTimeout) as info:
            m.send(b"kept")
        message = str(info.value)
        assert board.name in message and "EP_FRAME_OUT 0x02" in message and "timed out" in message
        assert isinstance(info.value, TimeoutError)
        assert m.render.queued == 1 and m.render.counters.failed == 1
        assert board.stats().frames_rx == 0
        link.write_timeouts.clear()
        assert m.render.process() == 1
        with m.receive() as frame:
            assert frame.tobytes() == b"kept" and frame.seq == 0
        balanced(board, m)


def test_ring_full_is_a_timeout_not_a_loss(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board, timeout_ms=50) as m:
        m.run()
        for i in range(c.FRAME_RING_SLOTS):
            m.send(payload(8, i))
        with pytest.raises(MiniportTimeout, match="EP_FRAME_OUT"):
            m.send(payload(8, 99))
        assert m.render.queued == 1
        with m.receive() as first:
            assert first.tobytes() == payload(8, 0)
        assert m.render.process() == 1
        rest = [m.receive() for _ in range(c.FRAME_RING_SLOTS)]
        assert [f.tobytes() for f in rest][-1] == payload(8, 99)
        for f in rest:
            f.release()
        balanced(board, m)


def test_silent_device_is_a_capture_timeout(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.run()
        with pytest.raises(MiniportTimeout, match="EP_FRAME_IN 0x82"):
            m.receive(timeout_ms=30)
        assert m.capture.counters.failed == 1
        balanced(board, m)


def _flip_payload_byte(data: bytes) -> bytes:
    out = bytearray(data)
    out[-1] ^= 0xFF
    return bytes(out)


def _bad_magic(data: bytes) -> bytes:
    return b"XXXX" + data[4:]


def _too_long(data: bytes) -> bytes:
    return data + b"\0" * 3


@pytest.mark.parametrize(("rewrite", "problem"), [
    (_flip_payload_byte, "bad frame CRC"),
    (_bad_magic, "bad frame magic"),
    (_too_long, "length mismatch"),
    (lambda data: data[:10], "truncated"),
    (lambda data: b"", "truncated"),
])
def test_garbage_from_the_device_is_reported_and_the_frame_returned(
        board: Board, link: FaultyLink, rewrite: Rewrite, problem: str) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.run()
        link.read_rewrites[c.EP_FRAME_IN] = rewrite
        m.send(b"hello")
        with pytest.raises(DeviceGarbage, match=problem) as info:
            m.receive()
        assert "EP_FRAME_IN 0x82" in str(info.value) and board.name in str(info.value)
        assert isinstance(info.value, ValueError)
        assert m.capture.counters.bad == 1 and m.capture.held == 0
        m.stop()
        assert m.books() == []
    assert board.host.frames_rx == 0  # the device counted a frame sent that the host refused
    assert board.stats().frames_tx == 1


def test_transfer_longer_than_the_frame_is_garbage(board: Board, link: FaultyLink) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board, vendor=None) as m:
        m.run()
        size = m.capture.frame_size
        link.read_rewrites[c.EP_FRAME_IN] = lambda data: data + bytes(size + 4 - len(data))
        m.send(b"x")
        with pytest.raises(DeviceGarbage, match="longer than the"):
            m.receive()
        m.stop()
        assert m.books() == []


def test_babbling_device_is_a_transfer_error(board: Board, link: FaultyLink) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.run()
        link.read_rewrites[c.EP_FRAME_IN] = lambda data: data + bytes(70_000)
        m.send(b"x")
        with pytest.raises(MiniportError, match=r"EP_FRAME_IN 0x82.*Overflow"):
            m.receive()
        assert m.capture.counters.failed == 1
        m.stop()
        assert m.books() == []


def test_sequence_gap_is_counted_and_unbalances_the_books(board: Board, link: FaultyLink) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)

    def skip_seq(data: bytes) -> bytes:
        out = bytearray(data)
        (seq,) = struct.unpack_from("<I", out, 8)
        struct.pack_into("<I", out, 8, seq + 5)
        return bytes(out)

    with FrameMiniport(board) as m:
        m.run()
        link.read_rewrites[c.EP_FRAME_IN] = skip_seq
        with m.receive() if m.send(b"a") == 0 else pytest.fail("seq") as frame:
            assert frame.seq == 5
        assert m.capture.counters.seq_gaps == 1
        m.stop()
    assert any("out-of-sequence" in p for p in board.unbalanced())


def test_caller_holding_every_frame_exhausts_the_capture_pool(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    m = FrameMiniport(board)
    m.connect()
    m.run()
    frames_held = m.capture.allocator.frame_count
    held = []
    for i in range(frames_held):
        m.send(payload(4, i))
        held.append(m.receive())
    m.send(b"one more")
    with pytest.raises(PoolExhausted, match=f"the caller holds {frames_held} of {frames_held} frames"):
        m.receive()
    with pytest.raises(MiniportError, match="books unbalanced"):
        m.close()
    assert m.books() == []  # close deleted everything; nothing is connected any more
    del held


def test_close_with_nothing_held_leaves_pools_full_and_allocators_deleted(board: Board) -> None:
    m = FrameMiniport(board)
    m.connect()
    render, capture = m.pins
    m.run()
    m.close()
    assert render.allocator.state == capture.allocator.state == "deleted"
    with pytest.raises(PinStateError, match="not connected"):
        _ = m.render
