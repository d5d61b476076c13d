"""Driver mode on a loaded machine: when the host's own capture reader falls behind, an echo device
fills its IN queue and NAKs EP_MIDI_OUT (as it must: USB-MIDI flow control), and the host's write
times out. That delay is the host's, not the device's: the writer tries again while its reader has
not got to read (issue #9; seen once in a `rig run` at load 22: "EP_MIDI_OUT (IN queue full)"). A
device that NAKs while the reader finds nothing to read still fails the write at its timeout."""

from __future__ import annotations

import threading
import time

import pytest

from host import midi as m
from rig import contract as c
from rig.client.board import Board
from rig.miniport import MiniportTimeout
from rig.miniport.usb_midi import UsbMidiMiniport

from .conftest import FaultyLink

STALL_S = 1.5
"""How long the reader is held: five times the board's 300 ms write timeout."""
FLOOD = [m.note_on(i % 16, (i // 16) % 128, 1 + i // 2048) for i in range(2000)]


def stall_reader_once(link: FaultyLink) -> threading.Event:
    """The first IN transfer with data holds the reader for STALL_S (a thread the machine did not
    schedule); the event is set when that has happened."""
    stalled = threading.Event()

    def slow(data: bytes) -> bytes:
        if data and not stalled.is_set():
            time.sleep(STALL_S)  # the stimulus: the reader not running
            stalled.set()
        return data

    link.read_rewrites[c.EP_MIDI_IN] = slow
    return stalled


def test_a_reader_that_falls_behind_makes_the_writer_wait_not_fail(board: Board, link: FaultyLink) -> None:
    board.set_midi_mode(c.MidiMode.ECHO)
    stalled = stall_reader_once(link)
    with UsbMidiMiniport(board) as mp:
        mp.send(FLOOD)
        assert [g.data for g in mp.receive(len(FLOOD), 30)] == FLOOD
        assert stalled.is_set()
        assert mp.writer.counters.host_waits >= 1 and mp.writer.counters.timeouts == 0
        stats = board.stats()
        assert stats.midi_rx_packets == stats.midi_tx_packets == len(FLOOD)


def test_a_device_that_naks_with_nothing_to_send_still_fails_the_write(board: Board,
                                                                       link: FaultyLink) -> None:
    board.set_midi_mode(c.MidiMode.ECHO)
    link.write_timeouts.add(c.EP_MIDI_OUT)
    with UsbMidiMiniport(board) as mp:
        started = time.monotonic()
        with pytest.raises(MiniportTimeout, match="EP_MIDI_OUT"):
            mp.send([m.note_on(0, 60, 1)])
        assert time.monotonic() - started < 10 * 0.3  # its timeout, tried again only while the reader lagged
        assert mp.writer.counters.timeouts == 1
