"""The host half of the contract checks: rig.client.board.Board rejects every malformed answer with an
error naming the board, the transfer and what was wrong.

A board that answers correctly cannot show this, so these tests put a tampering `UsbLink` between
pyusb and a loopback board (the seam pyusb documents for fakes). They run once, whatever --rig says.

Clauses checked (each test's docstring names its own): docs/protocol.md, Layouts, Framing, Frames and
Vendor requests, from the host's side; USB-MIDI 1.0 4 (whole event packets).
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.client.control import FRAMING_HEADER_SIZE
from rig.client.errors import BoardGone, DeviceResponseError, TransferStalled, TransferTimeout
from rig.links.pyusb_backend import LinkBackend
from rig.loopback import LoopbackBoard

Hook = Callable[[int, bytes], bytes]


class TamperLink:
    """A UsbLink passing everything to a loopback board, except what a hook rewrites."""

    def __init__(self, board: LoopbackBoard) -> None:
        self.board = board
        self.vendor_in: Hook | None = None
        """(bRequest, answer) -> answer for vendor IN requests."""
        self.bulk_in: Hook | None = None
        """(endpoint, data) -> data for bulk IN reads."""

    def control(self, bm_request_type: int, b_request: int, w_value: int, w_index: int,
                data_or_length: bytes | int, timeout_ms: int) -> bytes | int:
        out = self.board.control(bm_request_type, b_request, w_value, w_index, data_or_length, timeout_ms)
        if self.vendor_in and bm_request_type == c.VENDOR_REQUEST_TYPE_IN and isinstance(out, bytes):
            return self.vendor_in(b_request, out)
        return out

    def write(self, endpoint: int, data: bytes, timeout_ms: int) -> int:
        return self.board.write(endpoint, data, timeout_ms)

    def read(self, endpoint: int, length: int, timeout_ms: int) -> bytes:
        data = self.board.read(endpoint, length, timeout_ms)
        return self.bulk_in(endpoint, data) if self.bulk_in else data

    def clear_halt(self, endpoint: int) -> None:
        self.board.clear_halt(endpoint)

    def reset(self) -> None:
        self.board.reset()

    def close(self) -> None:
        self.board.close()


@pytest.fixture
def tampered() -> Iterator[tuple[Board, TamperLink]]:
    loop = LoopbackBoard(console_pty=False)
    link = TamperLink(loop)
    try:
        device = usb.core.find(backend=LinkBackend([link]))
        assert device is not None
        yield Board(device, timeout_ms=500), link
    finally:
        loop.close()


def _only(request: c.Request, change: Callable[[bytes], bytes]) -> Hook:
    return lambda code, data: change(data) if code == request else data


def _with_field(layout: c.Layout, **fields: int) -> Callable[[bytes], bytes]:
    def change(data: bytes) -> bytes:
        values = layout.unpack(data)
        values.update(fields)
        return layout.pack(**values)
    return change


SERIAL = "4C4F4F504241434B"
CONTROL_CASES = [
    ("info-short", c.Request.GET_INFO, lambda d: d[:-1], "info",
     f"expected {c.INFO.size} bytes, got {c.INFO.size - 1}"),
    ("info-contract", c.Request.GET_INFO, _with_field(c.INFO, contract_version=99), "info",
     "contract_version 99"),
    ("info-caps", c.Request.GET_INFO, _with_field(c.INFO, capabilities=0x8000), "info",
     "unknown bits 0x8000"),
    ("info-payload", c.Request.GET_INFO, _with_field(c.INFO, max_payload=c.FRAME_MAX_PAYLOAD + 1), "info",
     "max_payload 16385"),
    ("info-cables", c.Request.GET_INFO, _with_field(c.INFO, midi_cables=0), "info", "midi_cables 0"),
    ("midi-mode", c.Request.GET_MIDI_MODE, _with_field(c.MIDI_MODE_CONFIG, mode=9), "midi_mode",
     "mode: 9 is not a valid value"),
    ("midi-reserved", c.Request.GET_MIDI_MODE, _with_field(c.MIDI_MODE_CONFIG, reserved=1), "midi_mode",
     "reserved is 1"),
    ("frame-mode", c.Request.GET_FRAME_MODE, _with_field(c.FRAME_MODE_CONFIG, mode=7), "frame_mode",
     "mode: 7 is not a valid value"),
    ("frame-reserved", c.Request.GET_FRAME_MODE, _with_field(c.FRAME_MODE_CONFIG, reserved1=5), "frame_mode",
     "reserved fields are not 0"),
    ("stats-short", c.Request.GET_STATS, lambda d: d[:-4], "stats", f"got {c.STATS.size - 4}"),
    ("time-short", c.Request.GET_TIME, lambda d: d[:4], "time_us", "expected 8 bytes, got 4"),
    ("framing-alignment", c.Request.GET_FRAMING,
     lambda d: d[:FRAMING_HEADER_SIZE + 48] + struct.pack("<I", 5) + d[FRAMING_HEADER_SIZE + 52:], "framing",
     "FileAlignment (offset 72): 0x5 is not an alignment mask"),
    ("framing-count", c.Request.GET_FRAMING, lambda d: struct.pack("<I", 2) + d[4:], "framing_bytes",
     "CountItems 2"),
]


@pytest.mark.parametrize(("request_code", "change", "method", "problem"), [x[1:] for x in CONTROL_CASES],
                         ids=[x[0] for x in CONTROL_CASES])
def test_bad_control_answers_are_rejected_naming_board_request_and_problem(
        tampered: tuple[Board, TamperLink], request_code: c.Request, change: Callable[[bytes], bytes],
        method: str, problem: str) -> None:
    """docs/protocol.md, Layouts and Framing, from the host's side: an answer shorter than its layout, another
    contract_version, unknown capability bits, max_payload above 16384, 0 cables, an unknown mode, non-zero
    reserved fields, a FileAlignment that is not a mask or other than one framing item is refused with a
    DeviceResponseError (also a ValueError) naming board, request and problem."""
    board, link = tampered
    board.info()  # cache the good answer first; the tampering starts now
    link.vendor_in = _only(request_code, change)
    with pytest.raises(DeviceResponseError) as caught:
        getattr(board, method)()
    text = str(caught.value)
    assert text.startswith(f"board {SERIAL}: control {request_code.name} (IN, endpoint 0x00): ")
    assert problem in text
    assert isinstance(caught.value, ValueError)


def _flip_payload(endpoint: int, data: bytes) -> bytes:
    if endpoint != c.EP_FRAME_IN:
        return data
    out = bytearray(data)
    out[-1] ^= 0x01
    return bytes(out)


def test_host_checks_the_crc_of_frames_it_receives(tampered: tuple[Board, TamperLink]) -> None:
    """docs/protocol.md, Frames (payload_crc = CRC-32 of the payload), from the host's side: a received frame
    whose CRC does not match is refused naming board and endpoint, and not counted as received."""
    board, link = tampered
    link.bulk_in = _flip_payload
    board.send_frame(b"payload")
    with pytest.raises(DeviceResponseError, match=rf"board {SERIAL}: bulk read from EP_FRAME_IN 0x82: "
                                                  r"bad frame CRC \(seq 0\)"):
        board.receive_frame()
    assert board.host.frames_rx == 0


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: b"XXXX" + d[4:], "bad frame magic"),
    (lambda d: d[:-1], "frame length mismatch"),
    (lambda d: d[:10], "frame truncated"),
])
def test_host_checks_frame_headers_and_lengths(tampered: tuple[Board, TamperLink],
                                               change: Callable[[bytes], bytes], problem: str) -> None:
    """docs/protocol.md, Frames and Layouts (frame_header: magic, payload_len), from the host's side: a
    received frame with a bad magic, a length that does not match its header or a truncated header is refused
    with a named error."""
    board, link = tampered
    link.bulk_in = lambda ep, data: change(data) if ep == c.EP_FRAME_IN else data
    board.send_frame(bytes(100))
    with pytest.raises(DeviceResponseError, match=problem):
        board.receive_frame()


def test_host_counts_a_sequence_gap(tampered: tuple[Board, TamperLink]) -> None:
    """docs/protocol.md, Frames (seq +1 per frame per direction), from the host's side: a received frame that
    skips sequence numbers is recorded as a gap and the books report it out of sequence."""
    board, link = tampered
    board.reset_stats()
    from rig.contract import frame_wire as frames

    def renumber(ep: int, data: bytes) -> bytes:
        frame = frames.decode(data)
        return frames.encode(frame.payload, seq=frame.seq + 5, flags=frame.flags, rx_time_us=frame.rx_time_us,
                             tx_time_us=frame.tx_time_us) if ep == c.EP_FRAME_IN else data

    link.bulk_in = renumber
    board.send_frame(b"a")
    board.receive_frame()
    assert board.seq_gaps == [(0, 5)]
    assert any("out-of-sequence" in p for p in board.unbalanced())


def test_midi_reads_must_be_whole_packets(tampered: tuple[Board, TamperLink]) -> None:
    """USB-MIDI 1.0 4 (an event packet is 32 bits), from the host's side: a read of EP_MIDI_IN that is not a
    whole number of packets is refused naming the endpoint."""
    board, link = tampered
    link.bulk_in = lambda ep, data: data[:-1] if ep == c.EP_MIDI_IN else data
    board.write_midi_packets(bytes([0x09, 0x90, 60, 100]))
    with pytest.raises(DeviceResponseError, match=r"EP_MIDI_IN 0x81: 3 bytes is not a whole number"):
        board.read_midi_packets()


def test_stalls_timeouts_and_a_vanished_board_are_named(tampered: tuple[Board, TamperLink]) -> None:
    """docs/protocol.md, Vendor requests (an unknown bRequest is answered with STALL) and Standard and class
    requests (a read with nothing queued waits): the host names the board and the transfer in a stall, a
    timeout, and a board that is gone (BoardGone, also a ConnectionError)."""
    board, link = tampered
    with pytest.raises(TransferStalled, match=rf"board {SERIAL}: control 0x7f .*: stalled"):
        board.raw_control(c.VENDOR_REQUEST_TYPE_IN, 0x7F, 0, 0, 4)
    assert board.host.control_stalls == 1
    with pytest.raises(TransferTimeout, match=rf"board {SERIAL}: bulk read from EP_FRAME_IN 0x82: timed out"):
        board.receive_frame(50)
    link.board.close()
    with pytest.raises(BoardGone, match=rf"board {SERIAL}: control GET_INFO .*: the device is gone") as gone:
        board.info()
    assert isinstance(gone.value, ConnectionError)


def test_arguments_are_checked_before_anything_is_sent(tampered: tuple[Board, TamperLink]) -> None:
    """docs/protocol.md, Vendor requests (SET_MIDI_MODE / SET_FRAME_MODE STALL on a bad mode, cable or SOURCE
    rate) and USB-MIDI 1.0 4 (4-byte event packets), from the host's side: such arguments are refused before
    anything is sent, so no STALL is counted."""
    board, _ = tampered
    with pytest.raises(ValueError, match="9 is not a MidiMode"):
        board.set_midi_mode(9)
    with pytest.raises(ValueError, match="SOURCE needs rate_hz"):
        board.set_midi_mode(c.MidiMode.SOURCE, rate_hz=0)
    with pytest.raises(ValueError, match=r"cable 1 is not in 0\.\.0"):
        board.set_midi_mode(c.MidiMode.ECHO, cable=1)
    with pytest.raises(ValueError, match="5 is not a FrameMode"):
        board.set_frame_mode(5)
    with pytest.raises(ValueError, match="not a whole number of 4-byte packets"):
        board.write_midi_packets(b"abc")
    assert board.stats()["control_stalls"] == 0


FUZZED = [
    (c.Request.GET_INFO, c.INFO.size, "info"),
    (c.Request.GET_MIDI_MODE, c.MIDI_MODE_CONFIG.size, "midi_mode"),
    (c.Request.GET_FRAME_MODE, c.FRAME_MODE_CONFIG.size, "frame_mode"),
    (c.Request.GET_FRAMING, FRAMING_HEADER_SIZE + 88, "framing"),
]


@pytest.mark.parametrize(("request_code", "size", "method"), FUZZED, ids=[f[2] for f in FUZZED])
def test_fuzzed_answers_give_a_result_or_a_named_error(request_code: c.Request, size: int,
                                                       method: str) -> None:
    """docs/protocol.md, Layouts and Framing, from the host's side: whatever bytes the device sends, the
    parser returns a checked value or a DeviceResponseError."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    loop = LoopbackBoard(console_pty=False)
    link = TamperLink(loop)
    try:
        device = usb.core.find(backend=LinkBackend([link]))
        board = Board(device, timeout_ms=500)
        board.info()
        answer = {"data": b""}
        link.vendor_in = _only(request_code, lambda _: answer["data"])

        @settings(max_examples=200, deadline=None, database=None)
        @given(st.binary(min_size=0, max_size=size + 4))
        def check(data: bytes) -> None:
            answer["data"] = data[:size]  # pyusb refuses longer answers itself (overflow)
            try:
                getattr(board, method)()
            except DeviceResponseError as exc:
                assert str(exc).startswith(f"board {SERIAL}: control {request_code.name} (IN")

        check()
    finally:
        loop.close()


def test_reboot_bootloader_is_sent_as_the_contract_says(tampered: tuple[Board, TamperLink]) -> None:
    """docs/protocol.md, Vendor requests (REBOOT_BOOTLOADER: 0x40, 0x0A, no data; the software loopback only
    counts it): destructive on a real board (it leaves the bus), so checked here on a private loopback
    board."""
    board, link = tampered
    board.reboot_bootloader()
    assert link.board.reboots == 1
