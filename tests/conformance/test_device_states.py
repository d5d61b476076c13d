"""Conformance, USB 2.0 chapter 9 device states: in the Address state (after a bus reset, before
SET_CONFIGURATION) only the default control pipe and the device exist, so interface and endpoint
requests are Request Errors (STALL) while device requests still answer (USB 2.0 9.4)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig import contract as c
from rig.client.board import Board, TransferStalled
from rig.contract import ch9

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
    with pytest.raises(TransferStalled):
        unconfigured.raw_control(bm, request_code, value, index, data_or_length)


def test_device_requests_answer_in_the_address_state(unconfigured: Board) -> None:
    assert bytes(unconfigured.raw_control(0x80, ch9.GET_STATUS, 0, 0, 2)) == b"\0\0"
    assert bytes(unconfigured.raw_control(0x80, ch9.GET_CONFIGURATION, 0, 0, 1)) == b"\0"
    assert bytes(unconfigured.raw_control(0x82, ch9.GET_STATUS, 0, 0x80, 2)) == b"\0\0"  # EP0 IN
