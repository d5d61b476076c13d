"""Conformance, MIDI backpressure: a full EP_MIDI_IN queue NAKs EP_MIDI_OUT, so the packet that does
not fit is not received (the write times out), nothing is dropped, and midi_tx_overflow counts the
blocking once (issue #15 item 8).

Clauses checked (each test's docstring names its own): docs/protocol.md, MIDI modes and Timed-out writes;
USB-MIDI 1.0 4 (table 4-1)."""

from __future__ import annotations

import pytest
import usb.core

from rig import contract as c
from rig.client.board import Board

from ..endpoint_reads import drain

pytestmark = [pytest.mark.needs("usb"), pytest.mark.books_unchecked]

T = 100
NOTES = bytes((0x09, 0x90, 60, 100)) * 16
"""One full USB packet of events."""


def _drain(dev: usb.core.Device) -> bytes:
    return drain(dev, c.EP_MIDI_IN, 4096, T)


def test_seventeen_packets_unread_fill_the_queue_and_the_last_waits(board: Board) -> None:
    """docs/protocol.md, MIDI modes: the IN queue holds 256 event packets; with room for fewer than 16 replies
    the board NAKs EP_MIDI_OUT (the write times out, the packet is not received), midi_tx_overflow counts it
    once, and nothing is dropped (issue #15 item 8)."""
    board.claim_midi()
    dev = board.device
    for _ in range(16):
        dev.write(c.EP_MIDI_OUT, NOTES, T)
    with pytest.raises(usb.core.USBTimeoutError):
        dev.write(c.EP_MIDI_OUT, NOTES, T)
    stats = board.stats()
    assert (stats["midi_rx_packets"], stats["midi_tx_overflow"]) == (256, 1)
    assert _drain(dev) == NOTES * 16
    dev.write(c.EP_MIDI_OUT, NOTES, T)  # the packet that waited is sent again by the host
    assert _drain(dev) == NOTES
    assert board.stats()["midi_rx_packets"] == 272


@pytest.mark.parametrize(("data", "received", "bad", "echoed"), [
    (bytes((0x01, 0x90, 60, 1)), 1, 1, 0),  # reserved CIN 1
    (bytes((0x19, 0x90, 60, 1)), 1, 1, 0),  # cable 1 on a one-cable board
    (bytes((0x09, 0x90, 60, 1, 0x09, 0x90)), 2, 1, 1),  # a good packet, then a trailing partial one
    (bytes(4) + bytes((0x09, 0x90, 60, 1)), 1, 0, 1),  # CIN 0 padding is not counted
], ids=["CIN 1", "cable 1", "trailing partial", "padding"])
def test_bad_packets_are_received_counted_bad_and_dropped(board: Board, data: bytes, received: int, bad: int,
                                                          echoed: int) -> None:
    """docs/protocol.md, MIDI modes (USB-MIDI 1.0 4, table 4-1 reserves CINs 0 and 1; the contract takes CIN 0
    as padding): every packet but padding counts in midi_rx_packets; a reserved CIN, a cable >= MIDI_CABLES or
    a trailing partial packet also counts in midi_rx_bad and is dropped (issue #15 item 6)."""
    board.claim_midi()
    board.device.write(c.EP_MIDI_OUT, data, T)
    assert len(_drain(board.device)) == 4 * echoed
    stats = board.stats()
    assert (stats["midi_rx_packets"], stats["midi_rx_bad"]) == (received, bad)


def _packet(k: int) -> bytes:
    """A full USB packet of 16 note-ons numbered by `k` (tells every packet apart in the echo)."""
    return b"".join(bytes((0x09, 0x90, k & 0x7F, 1 + i)) for i in range(16))


def test_a_timed_out_write_delivers_what_was_acknowledged_once(board: Board) -> None:
    """docs/protocol.md, Timed-out writes: the host cancels a write the device NAKs past its timeout; the
    packets acknowledged before are delivered, the timeout says how many bytes, and a writer that sends only
    the rest gets every packet echoed exactly once and the books balanced (issue #9: a resend after a timeout
    delivered packets twice on the emulator)."""
    from rig.client.errors import TransferTimeout

    board.claim_midi()
    for k in range(15):  # the IN queue then has room for one more packet's replies
        board.write_midi_packets(_packet(k), T)
    rest = _packet(15) + _packet(16) + _packet(17)
    with pytest.raises(TransferTimeout, match="after 64 byte") as timed_out:
        board.write_midi_packets(rest, T)
    assert timed_out.value.transferred == 64
    assert board.stats()["midi_rx_packets"] == 16 * 16 == board.host.midi_packets_tx
    assert _drain(board.device) == b"".join(_packet(k) for k in range(16))
    board.host.midi_packets_rx += 16 * 16
    board.write_midi_packets(rest[timed_out.value.transferred:], T)  # only what was not acknowledged
    assert _drain(board.device) == _packet(16) + _packet(17)
    board.host.midi_packets_rx += 2 * 16
    assert board.unbalanced() == []
