"""Conformance, where a frame ends on EP_FRAME_OUT: at a short packet, or at the full packet that
completes the length its header gives (libusb sends no ZLP after a transfer that fills its last
packet, so a board cannot wait for one); a zero-length transfer is empty and is ignored (issue #9).

Clauses checked (each test's docstring names its own): docs/protocol.md, Frames and Layouts (frame_header)."""

from __future__ import annotations

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.contract import frame_wire as frames

pytestmark = [pytest.mark.needs("usb", "frames"), pytest.mark.books_unchecked]

T = 100


def test_a_frame_that_fills_its_last_packet_ends_there(board: Board) -> None:
    """docs/protocol.md, Frames: a frame whose length is a multiple of 64 ends with the full packet that
    completes its header's length (no ZLP needed); the packets after it start the next frame (here a 5-byte
    short packet, counted in frames_bad_header)."""
    frame = frames.encode(bytes(range(24)), 0)  # 64 bytes: exactly one full packet
    assert len(frame) == c.BULK_PACKET_SIZE
    board.device.write(c.EP_FRAME_OUT, frame + b"tail!", T)  # the tail is a short packet of its own
    echoed = frames.decode(bytes(board.device.read(c.EP_FRAME_IN, 4096, T)))
    assert echoed.payload == bytes(range(24))
    stats = board.stats()
    assert (stats["frames_rx"], stats["frames_bad_header"]) == (1, 1)


def test_a_zero_length_transfer_is_ignored(board: Board) -> None:
    """docs/protocol.md, Frames: a zero-length transfer is empty and counts nowhere; nothing is echoed."""
    board.device.write(c.EP_FRAME_OUT, b"", T)
    with pytest.raises(usb.core.USBTimeoutError):
        board.device.read(c.EP_FRAME_IN, 4096, T)
    stats = board.stats()
    assert (stats["frames_rx"], stats["frames_bad_header"], stats["frames_bad_crc"]) == (0, 0, 0)


def test_frames_written_in_source_are_checked_and_counted(board: Board) -> None:
    """docs/protocol.md, Frames (SOURCE: frames written by the host are checked, counted and dropped): a good,
    a bad-CRC and a bad-header frame count in frames_rx, frames_bad_crc and frames_bad_header, and none is
    echoed (issue #15 item 5)."""
    dev = board.device
    board.set_frame_mode(c.FrameMode.SOURCE, payload_len=3, count=1)
    sourced = frames.decode(bytes(dev.read(c.EP_FRAME_IN, 4096, T)))
    assert sourced.flags == c.FrameFlag.SOURCED
    good = frames.encode(bytes(100), 0)  # 140 bytes: three packets
    bad_crc = bytearray(frames.encode(b"xyz", 1))
    bad_crc[-1] ^= 0xFF
    for data in (good, bytes(bad_crc), b"not a frame"):
        dev.write(c.EP_FRAME_OUT, data, T)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_FRAME_IN, 4096, T)
    stats = board.stats()
    assert (stats["frames_rx"], stats["frames_bad_crc"], stats["frames_bad_header"]) == (1, 1, 1)
    assert stats["frame_bytes_rx"] == 100
    board.set_frame_mode(c.FrameMode.ECHO)


def test_a_frame_with_a_nonzero_reserved_field_is_accepted_and_echoed_as_is(board: Board) -> None:
    """docs/protocol.md, Layouts (frame_header: reserved is 0 in a frame made; a receiver ignores it and an
    echoed frame keeps it): a non-zero reserved field is accepted and echoed as it came (issue #9)."""
    frame = bytearray(frames.encode(b"reserved", 0))
    frame[20:24] = (7).to_bytes(4, "little")
    board.device.write(c.EP_FRAME_OUT, bytes(frame), T)
    echoed = bytes(board.device.read(c.EP_FRAME_IN, 4096, T))
    assert echoed[20:24] == (7).to_bytes(4, "little") and bytes(frames.decode(echoed).payload) == b"reserved"
    assert board.stats()["frames_rx"] == 1
