"""Conformance, USB 2.0 chapter 9 device states: in the Address state (after a bus reset, before
SET_CONFIGURATION) only the default control pipe and the device exist, so interface and endpoint
requests are Request Errors (STALL) while device requests still answer (USB 2.0 9.4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.client.errors import TransferStalled
from rig.contract import ch9
from rig.contract import frame_wire as frames
from rig.loopback import midi

from ..endpoint_reads import drain

pytestmark = [pytest.mark.needs("usb"), pytest.mark.books_unchecked]

GET_LINE_CODING = 0x21


@pytest.fixture
def unconfigured(board: Board) -> Iterator[Board]:
    """The board after a bus reset, configured again when the test ends."""
    board.device.reset()
    yield board
    board.device.set_configuration(c.CONFIG_VALUE)


@pytest.mark.parametrize(("bm", "request_code", "value", "index", "data_or_length"), [
    (0xA1, GET_LINE_CODING, 0, c.IF_CDC_COMM, 7),
    (0x82, ch9.GET_STATUS, 0, c.EP_MIDI_IN, 2),
    (0x81, ch9.GET_STATUS, 0, c.IF_VENDOR, 2),
    (0x02, ch9.CLEAR_FEATURE, ch9.ENDPOINT_HALT, c.EP_MIDI_IN, b""),
    (0x02, ch9.SET_FEATURE, ch9.ENDPOINT_HALT, c.EP_FRAME_OUT, b""),
], ids=["class GET_LINE_CODING", "GET_STATUS(endpoint)", "GET_STATUS(interface)", "CLEAR_FEATURE(HALT)",
        "SET_FEATURE(HALT)"])
def test_interface_and_endpoint_requests_stall_in_the_address_state(
        unconfigured: Board, bm: int, request_code: int, value: int, index: int,
        data_or_length: bytes | int) -> None:
    """USB 2.0 9.4.5, 9.4.1 and 9.4.9 (Address state: a request to an interface or to an endpoint other than 0
    is a Request Error) and docs/protocol.md, Standard and class requests (in the Address state such requests,
    class requests included, are answered with STALL)."""
    with pytest.raises(TransferStalled):
        unconfigured.raw_control(bm, request_code, value, index, data_or_length)


def test_device_requests_answer_in_the_address_state(unconfigured: Board) -> None:
    """USB 2.0 9.4.5 and 9.4.2: in the Address state GET_STATUS of the device and of endpoint 0 answer, and
    GET_CONFIGURATION returns 0."""
    assert bytes(unconfigured.raw_control(0x80, ch9.GET_STATUS, 0, 0, 2)) == b"\0\0"
    assert bytes(unconfigured.raw_control(0x80, ch9.GET_CONFIGURATION, 0, 0, 1)) == b"\0"
    assert bytes(unconfigured.raw_control(0x82, ch9.GET_STATUS, 0, 0x80, 2)) == b"\0\0"  # EP0 IN


T = 100
"""Timeout (ms) of the bulk transfers here: long enough for either board to answer, short enough to
show that nothing is queued."""


def _stats(board: Board) -> dict[str, int]:
    data = bytes(board.raw_control(c.VENDOR_REQUEST_TYPE_IN, int(c.Request.GET_STATS), 0, 0, c.STATS.size))
    return {k: int(v) for k, v in c.STATS.unpack(data).items() if isinstance(v, int)}


def test_set_configuration_again_empties_queues_and_restarts_sequences(board: Board) -> None:
    """USB 2.0 9.1.1.5 and docs/protocol.md, Standard and class requests: any SET_CONFIGURATION (the current
    value included) resets the functions: replies and frames queued for the host are dropped and both frame
    sequences start again at 0 (issue #15 item 12)."""
    dev = board.device
    board.write_midi_packets(bytes((0x09, 0x90, 60, 100)) * 3)
    dev.write(c.EP_FRAME_OUT, frames.encode(b"abc", 0), T)
    dev.write(c.EP_FRAME_OUT, frames.encode(b"def", 1), T)
    board.raw_control(0x00, ch9.SET_CONFIGURATION, c.CONFIG_VALUE, 0, b"")
    assert board.drain_midi(T) == b""
    with pytest.raises(usb.core.USBTimeoutError):
        dev.read(c.EP_FRAME_IN, 4096, T)
    dev.write(c.EP_FRAME_OUT, frames.encode(b"ghi", 0), T)
    echoed = frames.decode(bytes(dev.read(c.EP_FRAME_IN, 4096, T)))
    assert echoed.seq == 0
    assert _stats(board)["frames_seq_gap"] == 0


@pytest.mark.parametrize("kind", ["midi", "frames"])
def test_source_starts_again_when_configured_again(board: Board, kind: str) -> None:
    """docs/protocol.md, Standard and class requests: a bus reset stops a SOURCE mode; it produces nothing in
    the Address state and starts again from its beginning at SET_CONFIGURATION(1), the mode kept (issue #15
    item 20)."""
    dev = board.device

    def everything() -> bytes:
        if kind == "midi":
            return board.drain_midi(T)
        return drain(dev, c.EP_FRAME_IN, 4096, T)

    if kind == "midi":
        board.set_midi_mode(c.MidiMode.SOURCE, rate_hz=100_000, count=2)
    else:
        board.set_frame_mode(c.FrameMode.SOURCE, payload_len=5, count=2)
    first = everything()
    dev.reset()
    dev.set_configuration(c.CONFIG_VALUE)
    again = everything()
    if kind == "midi":
        assert again == first == b"".join(midi.source_pair(0, 0) + midi.source_pair(0, 1))
        board.set_midi_mode(c.MidiMode.ECHO)
    else:
        assert [frames.decode(f).seq for f in _split_frames(again)] == [0, 1]
        board.set_frame_mode(c.FrameMode.ECHO)


def _split_frames(data: bytes) -> list[bytes]:
    out = []
    while data:
        size = frames.HEADER_SIZE + int.from_bytes(data[12:16], "little")  # payload_len
        out.append(data[:size])
        data = data[size:]
    return out
