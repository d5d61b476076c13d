"""Conformance, how IN transfers reach the host (issue #15 items 7, 9, 10, 19): the board arms a MIDI
packet from what is queued when EP_MIDI_IN is idle, ends a transfer whose last packet is full with a
ZLP, and a read whose room is smaller than the next packet overflows (babble: LIBUSB_ERROR_OVERFLOW,
the packet is lost to the host); a read of 0 bytes waits like any other.

Clauses checked (each test's docstring names its own): docs/protocol.md, Standard and class requests and
MIDI modes; USB 2.0 5.8.3."""

from __future__ import annotations

import errno

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board
from rig.contract import frame_wire as frames

pytestmark = [pytest.mark.needs("usb"), pytest.mark.books_unchecked]

T = 100
NOTE = bytes((0x09, 0x90, 60, 100))


def echoing(board: Board) -> None:
    """ECHO mode, whatever an earlier test left (these tests count on one reply per event)."""
    board.set_midi_mode(c.MidiMode.ECHO)
    board.claim_midi()


def test_sixteen_events_end_with_a_zlp(board: Board) -> None:
    """USB 2.0 5.8.3 and docs/protocol.md, Standard and class requests: an IN transfer whose last packet is
    full is ended by a ZLP, which the next host read receives as an empty read."""
    echoing(board)
    dev = board.device
    dev.write(c.EP_MIDI_OUT, NOTE * 16, T)
    assert bytes(dev.read(c.EP_MIDI_IN, 64, T)) == NOTE * 16
    assert bytes(dev.read(c.EP_MIDI_IN, 64, T)) == b""  # the ZLP that ends the transfer


def test_a_packet_is_armed_from_what_was_queued(board: Board) -> None:
    """docs/protocol.md, MIDI modes: a packet holds what was queued when EP_MIDI_IN was idle, and a read ends
    at the first short packet (USB 2.0 5.8.3): the first reply comes alone, the next 16 after it."""
    echoing(board)
    dev = board.device
    dev.write(c.EP_MIDI_OUT, NOTE, T)
    dev.write(c.EP_MIDI_OUT, NOTE * 16, T)
    assert bytes(dev.read(c.EP_MIDI_IN, 512, T)) == NOTE  # a short packet ends the transfer
    assert bytes(dev.read(c.EP_MIDI_IN, 512, T)) == NOTE * 16


def test_a_read_of_nothing_waits(board: Board) -> None:
    """docs/protocol.md, Standard and class requests: a read with nothing queued waits, whatever its length (0
    included): it times out rather than failing."""
    echoing(board)
    with pytest.raises(usb.core.USBTimeoutError):
        board.device.read(c.EP_MIDI_IN, 0, T)


@pytest.mark.parametrize("length", [0, 3, 60, 100])
def test_a_read_shorter_than_the_packet_overflows_and_loses_it(board: Board, length: int) -> None:
    """docs/protocol.md, Standard and class requests: a read whose room is smaller than the next packet fails
    with overflow (babble, LIBUSB_ERROR_OVERFLOW) and that read's packets are lost to the host; the next read
    gets the rest of the transfer."""
    dev = board.device
    frame = frames.encode(bytes(range(100)), 0)  # 140 bytes: packets of 64, 64 and 12
    dev.write(c.EP_FRAME_OUT, frame, T)
    with pytest.raises(usb.core.USBError) as caught:
        dev.read(c.EP_FRAME_IN, length, T)
    assert caught.value.errno == errno.EOVERFLOW
    lost = 64 if length < 64 else 128
    assert bytes(dev.read(c.EP_FRAME_IN, 512, T)) == frame[lost:]  # the rest of the transfer
