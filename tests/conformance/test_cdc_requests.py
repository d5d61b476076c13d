"""Conformance, CDC class requests (PSTN 1.2): SET_LINE_CODING with a stop-bit, parity or data-bit
value the table does not define and SEND_BREAK (not offered by the ACM descriptor's bmCapabilities)
are answered with STALL and change nothing (issue #15 item 16).

Clauses checked (each test's docstring names its own): PSTN 1.2 table 17; docs/protocol.md, Standard and
class requests."""

from __future__ import annotations

import struct

import pytest

from rig import contract as c
from rig.client.board import Board
from rig.client.errors import TransferStalled

pytestmark = [pytest.mark.needs("usb", "console"), pytest.mark.books_unchecked]

SET_LINE_CODING, GET_LINE_CODING, SEND_BREAK = 0x20, 0x21, 0x23


def _line_coding(board: Board) -> bytes:
    return bytes(board.raw_control(0xA1, GET_LINE_CODING, 0, c.IF_CDC_COMM, 7))


@pytest.mark.parametrize(("stop", "parity", "bits"), [(3, 0, 8), (0, 5, 8), (0, 0, 4), (0, 0, 9)],
                         ids=["stop 3", "parity 5", "4 bits", "9 bits"])
def test_undefined_line_coding_stalls_and_changes_nothing(board: Board, stop: int, parity: int,
                                                         bits: int) -> None:
    """PSTN 1.2 table 17 (bCharFormat 0..2, bParityType 0..4, bDataBits 5..8 or 16) and docs/protocol.md,
    Standard and class requests: SET_LINE_CODING with a value outside it is answered with STALL and
    GET_LINE_CODING still returns what it did."""
    before = _line_coding(board)
    with pytest.raises(TransferStalled):
        board.raw_control(0x21, SET_LINE_CODING, 0, c.IF_CDC_COMM,
                          struct.pack("<IBBB", 9600, stop, parity, bits))
    assert _line_coding(board) == before


def test_send_break_stalls(board: Board) -> None:
    """docs/protocol.md, Standard and class requests: SEND_BREAK is not offered (ACM bmCapabilities 0x02) and
    is answered with STALL."""
    with pytest.raises(TransferStalled):
        board.raw_control(0x21, SEND_BREAK, 100, c.IF_CDC_COMM, b"")
