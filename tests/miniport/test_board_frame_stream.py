"""rig.client.board.Board's frame stream claim: a miniport owns the host-to-device sequence numbers and
writes through the Board's error mapping; while it holds the claim `send_frame` and `send_raw_frame`
refuse, and after release `send_frame` continues the sequence with no gap on the device."""

from __future__ import annotations

import array

import pytest

from rig import contract as c
from rig.client.board import Board
from rig.client.errors import FrameStreamClaimed, TransferError, TransferTimeout
from rig.contract import frame_wire as wire
from rig.miniport.frame_pins import FrameMiniport

from .conftest import FaultyLink


def test_claim_refuses_send_frame_and_a_second_claim(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.SINK)
    with board.claim_frame_stream("test owner") as stream:
        assert board.frame_stream is stream
        with pytest.raises(FrameStreamClaimed, match="send_frame while test owner owns the frame stream"):
            board.send_frame(b"x")
        with pytest.raises(FrameStreamClaimed, match="send_raw_frame while test owner"):
            board.send_raw_frame(wire.encode(b"x", seq=0, flags=c.FrameFlag.FROM_HOST))
        with pytest.raises(FrameStreamClaimed, match="already claimed by test owner"):
            board.claim_frame_stream("someone else")
        assert isinstance(FrameStreamClaimed("x"), RuntimeError)
    assert board.frame_stream is None and stream.released
    assert board.send_frame(b"x") == 0  # nothing was sent through the claim: the sequence starts at 0
    assert board.unbalanced(drain_ms=20) == []


def test_owner_numbers_frames_and_send_frame_continues_after_release(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.SINK)
    stream = board.claim_frame_stream("test owner")
    for payload in (b"a", b"bb", b"ccc"):
        seq = stream.next_seq
        stream.write_frame_bytes(wire.encode(payload, seq=seq, flags=c.FrameFlag.FROM_HOST))
        stream.next_seq = seq + 1
        board.host.frames_tx += 1
        board.host.frame_bytes_tx += len(payload)
    assert board.next_tx_seq == 3
    stream.release()
    stream.release()  # twice is fine
    assert board.send_frame(b"dddd") == 3
    stats = board.stats()
    assert stats.frames_rx == 4 and stats.frames_seq_gap == 0
    assert board.unbalanced(drain_ms=20) == []


def test_released_claim_cannot_send(board: Board) -> None:
    stream = board.claim_frame_stream("test owner")
    stream.release()
    with pytest.raises(FrameStreamClaimed, match="test owner already released"):
        stream.write_frame_bytes(b"")
    with pytest.raises(FrameStreamClaimed, match="already released"):
        stream.next_seq = 5
    assert board.next_tx_seq == 0


def test_set_frame_mode_restarts_the_owners_sequence(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.SINK)
    with board.claim_frame_stream("test owner") as stream:
        stream.next_seq = 7
        board.set_frame_mode(c.FrameMode.ECHO)  # the device restarts its sequences: so does the owner
        assert stream.next_seq == 0


def test_stream_transfers_map_errors_as_the_board_does(board: Board, link: FaultyLink) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with board.claim_frame_stream("test owner") as stream:
        link.write_timeouts.add(c.EP_FRAME_OUT)
        with pytest.raises(TransferTimeout, match=r"board \w+: bulk write to EP_FRAME_OUT 0x02: timed out"):
            stream.write_frame_bytes(wire.encode(b"x", seq=0, flags=c.FrameFlag.FROM_HOST), 50)
        link.write_timeouts.clear()
        buffer = array.array("B", bytes(128))
        with pytest.raises(TransferTimeout, match="bulk read from EP_FRAME_IN 0x82: timed out"):
            stream.read_frame_bytes_into(buffer, 50)
        assert issubclass(TransferTimeout, TransferError)
        data = wire.encode(b"hello", seq=0, flags=c.FrameFlag.FROM_HOST)
        stream.write_frame_bytes(data)
        count = stream.read_frame_bytes_into(buffer)
        assert wire.decode(bytes(buffer[:count])).payload.tobytes() == b"hello"
    board.host.frames_tx = board.host.frames_rx = 1
    board.host.frame_bytes_tx = board.host.frame_bytes_rx = 5
    assert board.unbalanced(drain_ms=20) == []


def test_send_frame_refuses_while_a_miniport_is_connected(board: Board) -> None:
    board.set_frame_mode(c.FrameMode.ECHO)
    with FrameMiniport(board) as m:
        m.run()
        assert [e.seq for e in m.roundtrip([b"a", b"b"])] == [0, 1]
        with pytest.raises(FrameStreamClaimed, match="frame miniport"):
            board.send_frame(b"mixed in")
        m.stop()
    assert board.frame_stream is None
    assert board.send_frame(b"after") == 2  # continues the miniport's sequence: no gap on the device
    assert board.receive_frame().payload.tobytes() == b"after"
    stats = board.stats()
    assert stats.frames_seq_gap == 0 and stats.frames_rx == 3
    assert board.unbalanced(drain_ms=20) == []


def test_a_failed_connect_releases_the_stream(board: Board) -> None:
    def broken(pin: str, _framing: object) -> object:
        raise RuntimeError(f"no vendor allocator for {pin}")

    with pytest.raises(RuntimeError, match="no vendor allocator for render"):
        FrameMiniport(board, vendor=broken).connect()  # type: ignore[arg-type]
    assert board.frame_stream is None
    with FrameMiniport(board):
        pass
    assert board.frame_stream is None
