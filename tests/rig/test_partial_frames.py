"""A bulk write that times out part-way, as libusb and the rig's links report it; mostly frames.

A frame write that times out part-way (protocol.md *Timed-out writes*): the board holds the bytes it
acknowledged, so the host sends only the rest of that frame, refuses to start another frame on top of
it, and after a timeout of unknown extent asks for the stream to be restarted (issue #9: the Board
used to send the whole frame again, and the board took it as the rest of the first).

The cancel is made at the link seam: a link that passes the first `cut` bytes of the next write to a
real loopback board and then reports the timeout with `transferred`, or (`short`) as pyusb over
libusb-1.0 reports it: a short count, with an exception only when nothing was acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.client.control import libusb1_counts
from rig.client.errors import PartialFrame, TransferTimeout
from rig.links.pyusb_backend import LinkBackend
from rig.links.recording_backend import RecordingBackend
from rig.links.usb_link import ForwardingLink, write_timed_out
from rig.loopback import LoopbackBoard
from rig.targets.discovery import libusb_backend

PAYLOAD = bytes(range(200))
"""Header and payload take four 64-byte packets."""


class CuttingLink(ForwardingLink):
    """Passes everything to the loopback board; the next write to `endpoint` (if `cut` is set) delivers
    only its first `cut` bytes and times out saying so (`report` False: saying nothing; `short`: as
    pyusb over libusb-1.0 does, a short count)."""

    def __init__(self, board: LoopbackBoard) -> None:
        super().__init__(board)
        self.cut: int | None = None
        self.report = True
        self.short = False
        self.endpoint = c.EP_FRAME_OUT
        self.writes: list[bytes] = []

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        if endpoint == c.EP_FRAME_OUT:
            self.writes.append(bytes(data))
        if endpoint != self.endpoint or self.cut is None:
            return self.inner.write(endpoint, data, timeout_ms)
        cut, self.cut = self.cut, None
        if cut:
            self.inner.write(endpoint, data[:cut], timeout_ms)
        if self.short and cut:
            return cut
        raise write_timed_out("cancelled by the test", cut if self.report else None)


@pytest.fixture
def cutting() -> Iterator[tuple[Board, CuttingLink]]:
    loop = LoopbackBoard(console_pty=False)
    link = CuttingLink(loop)
    try:
        device = usb.core.find(backend=LinkBackend([link]))
        assert device is not None
        board = Board(device, timeout_ms=500)
        board.set_frame_mode(c.FrameMode.ECHO)
        yield board, link
    finally:
        loop.close()


def test_a_frame_cut_part_way_is_finished_by_sending_only_the_rest(
        cutting: tuple[Board, CuttingLink]) -> None:
    board, link = cutting
    link.cut = 128
    with pytest.raises(TransferTimeout, match="after 128 byte") as timed_out:
        board.send_frame(PAYLOAD)
    assert timed_out.value.transferred == 128
    assert board.host.frames_tx == 0 and board.next_tx_seq == 0  # not sent yet
    link.cut = 64  # the retry is cut again: 192 of 240 bytes are now on the board
    with pytest.raises(TransferTimeout):
        board.send_frame(PAYLOAD)
    assert board.send_frame(PAYLOAD) == 0
    whole = link.writes[0]
    assert link.writes[1:] == [whole[128:], whole[192:]], "a retry sent bytes the board already had"
    frame = board.receive_frame()
    assert (frame.seq, bytes(frame.payload)) == (0, PAYLOAD)
    stats = board.stats()
    assert (stats["frames_rx"], stats["frames_bad_crc"], stats["frames_bad_header"]) == (1, 0, 0)
    assert board.host.frames_tx == 1
    assert board.unbalanced() == []


def test_another_frame_on_top_of_a_cut_one_is_refused_until_the_mode_drops_it(
        cutting: tuple[Board, CuttingLink]) -> None:
    board, link = cutting
    link.cut = 64
    with pytest.raises(TransferTimeout):
        board.send_frame(PAYLOAD)
    with pytest.raises(PartialFrame, match="first 64 of 240 bytes of frame seq 0"):
        board.send_frame(b"another")
    with pytest.raises(PartialFrame):
        board.send_raw_frame(b"raw bytes")
    assert len(link.writes) == 1, "a refused frame reached the wire"
    board.set_frame_mode(c.FrameMode.ECHO)  # the board drops the half frame; the stream restarts
    assert board.send_frame(b"another") == 0
    assert bytes(board.receive_frame().payload) == b"another"
    assert board.stats()["frames_bad_crc"] == 0


def test_a_timeout_of_unknown_extent_asks_for_a_restart(cutting: tuple[Board, CuttingLink]) -> None:
    board, link = cutting
    link.cut, link.report = 64, False
    with pytest.raises(TransferTimeout) as timed_out:
        board.send_frame(PAYLOAD)
    assert timed_out.value.transferred is None
    with pytest.raises(PartialFrame, match="did not say how many bytes"):
        board.send_frame(PAYLOAD)
    board.set_frame_mode(c.FrameMode.ECHO)
    board.send_frame(PAYLOAD)
    assert bytes(board.receive_frame().payload) == PAYLOAD


def test_a_frame_not_acknowledged_at_all_is_sent_again_whole(cutting: tuple[Board, CuttingLink]) -> None:
    board, link = cutting
    link.cut = 0
    with pytest.raises(TransferTimeout):
        board.send_frame(PAYLOAD)
    assert board.send_frame(PAYLOAD) == 0
    assert link.writes[1] == link.writes[0]
    assert bytes(board.receive_frame().payload) == PAYLOAD


def test_a_short_count_is_a_timeout_after_that_many_bytes(cutting: tuple[Board, CuttingLink]) -> None:
    """pyusb over libusb-1.0 returns the count of a write its timeout cut (no exception): the Board
    reports it as the timeout it is, with `transferred`, and finishes the frame from there."""
    board, link = cutting
    link.cut, link.short = 64, True
    with pytest.raises(TransferTimeout, match="after 64 byte") as timed_out:
        board.send_frame(PAYLOAD)
    assert timed_out.value.transferred == 64
    board.send_frame(PAYLOAD)
    assert link.writes[1] == link.writes[0][64:]
    assert bytes(board.receive_frame().payload) == PAYLOAD


def test_a_short_midi_write_counts_only_what_was_acknowledged(cutting: tuple[Board, CuttingLink]) -> None:
    board, link = cutting
    board.set_midi_mode(c.MidiMode.ECHO)
    packets = bytes((0x09, 0x90, 60, 100)) * 32  # two USB packets
    link.endpoint, link.cut, link.short = c.EP_MIDI_OUT, 64, True
    with pytest.raises(TransferTimeout) as timed_out:
        board.write_midi_packets(packets)
    assert timed_out.value.transferred == 64
    assert board.host.midi_packets_tx == 16 == board.stats()["midi_rx_packets"]
    board.write_midi_packets(packets[64:])
    assert board.stats()["midi_rx_packets"] == 32


def test_libusb1_is_known_to_count_through_a_capture_and_a_link_is_not() -> None:
    """Which backends raise a write timeout only when nothing was acknowledged (so 0 is known)."""
    libusb1 = libusb_backend()  # the one the rig reaches boards through (libusb_package's libusb)

    def device(backend: object) -> usb.core.Device:
        return SimpleNamespace(_ctx=SimpleNamespace(backend=backend))

    assert libusb1_counts(device(libusb1))
    assert libusb1_counts(device(RecordingBackend(libusb1)))
    assert not libusb1_counts(device(LinkBackend([])))
