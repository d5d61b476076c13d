"""The OS-MIDI miniport on python-rtmidi ports (JACK, dummy driver) wired to the loopback board: the
same MXF graphs as driver mode, messages out by MidiOut.send_message, in by the MidiIn callback,
host books kept in USB-MIDI packet units so they equal the device's counters."""

from __future__ import annotations

from typing import Any

import pytest

from host import midi as m
from host.mxf.clock import ManualClock
from rig import contract as c
from rig.client.board import Board
from rig.miniport import MiniportError, MiniportTimeout, PoolExhausted
from rig.miniport.rtmidi_port import OsMidiMiniport
from rig.pytest_plugin.testing import require_module

rtmidi = require_module("rtmidi", "pip install python-rtmidi")

MESSAGES = [m.note_on(0, 60, 100), m.note_off(15, 1, 0), m.control_change(3, 7, 1), m.pitch_bend(2, -5),
            m.program_change(9, 3), m.song_position(77), m.tune_request(), m.timing_clock(),
            m.active_sensing(), m.sysex(bytes(range(50))), m.sysex(b"")]


def wait_for(what: str, ready: Any, timeout_s: float = 5.0) -> None:
    """Poll `ready()` until true; fail naming `what` after `timeout_s` (OS MIDI is asynchronous)."""
    import time

    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def balanced(board: Board, miniport: OsMidiMiniport) -> None:
    miniport.stop()
    assert miniport.books() == []
    assert board.unbalanced() == []


def test_messages_round_trip_and_books_match_the_device(ports: tuple[Any, Any], board: Board) -> None:
    with OsMidiMiniport(*ports, board=board, name="loopback OS MIDI") as mp:
        assert mp.send(MESSAGES) == len(MESSAGES)
        got = mp.receive(len(MESSAGES), 5)
        assert [g.data for g in got] == MESSAGES
        packets = sum(len(m.encode_message(msg)) // 4 for msg in MESSAGES)
        assert mp.counters.packets_sent == mp.counters.packets_received == packets
        assert board.stats().midi_rx_packets == packets
        balanced(board, mp)


def test_running_status_and_real_time_are_resolved_before_the_os(ports: tuple[Any, Any],
                                                                   board: Board) -> None:
    with OsMidiMiniport(*ports, board=board) as mp:
        mp.send([b"\x90\x3c\x40", b"\x3d\x41", b"\x80\x3c\xf8\x00"])
        got = [g.data for g in mp.receive(4, 5)]
        assert got == [b"\x90\x3c\x40", b"\x90\x3d\x41", b"\xf8", b"\x80\x3c\x00"]
        balanced(board, mp)


def test_transform_comes_back_transposed(ports: tuple[Any, Any], board: Board) -> None:
    board.set_midi_mode(c.MidiMode.TRANSFORM, transpose=5)
    with OsMidiMiniport(*ports, board=board) as mp:
        mp.send([m.note_on(0, 60, 1), m.control_change(0, 60, 1)])
        assert [g.data for g in mp.receive(2, 5)] == [m.note_on(0, 65, 1), m.control_change(0, 60, 1)]
        balanced(board, mp)


def test_flood_with_a_send_window_loses_nothing(ports: tuple[Any, Any], board: Board) -> None:
    sent = [m.note_on(i % 16, (i // 16) % 128, 1 + i // 2048) for i in range(1500)]
    with OsMidiMiniport(*ports, board=board, send_window=64) as mp:
        mp.send(sent)
        assert [g.data for g in mp.receive(len(sent), 20)] == sent
        balanced(board, mp)


def test_time_stamps_come_from_the_injected_clock(ports: tuple[Any, Any], board: Board) -> None:
    with OsMidiMiniport(*ports, board=board, clock=ManualClock(123)) as mp:
        mp.send([m.start()])
        (got,) = mp.receive(1, 5)
        assert got.time_100ns == 123
        balanced(board, mp)


def test_send_window_without_answers_times_out_and_keeps_messages(ports: tuple[Any, Any],
                                                                    board: Board) -> None:
    board.set_midi_mode(c.MidiMode.SINK)
    with OsMidiMiniport(*ports, board=board, send_window=2, send_timeout_s=0.2) as mp:
        with pytest.raises(MiniportTimeout, match=r"2 message\(s\) sent and not answered .* 1 message"):
            mp.send([m.note_on(0, 1, 1)] * 3)
        assert mp.pending_messages == 1
        assert any("not yet sent" in p for p in mp.books())
        mp.send_window = None
        assert mp.service() == 1
        mp.stop()
        assert mp.books() == []
    wait_for("the device to count 3 packets", lambda: board.stats().midi_rx_packets == 3)
    assert board.unbalanced() == []


def test_send_failure_keeps_the_message(board: Board) -> None:
    class BrokenOut:
        def send_message(self, message: list[int]) -> None:
            raise rtmidi.SystemError("MidiOut gone")

    class NoInput:
        def set_callback(self, callback: object) -> None: ...
        def cancel_callback(self) -> None: ...

    with OsMidiMiniport(BrokenOut(), NoInput()) as mp:
        with pytest.raises(MiniportError, match=r"send_message failed .*MidiOut gone.*1 message"):
            mp.send([m.note_on(0, 1, 1)])
        assert mp.pending_messages == 1
        assert mp.counters.send_errors == 1


def test_scheduled_events_exceeding_the_pool(board: Board) -> None:
    class Sink:
        def __init__(self) -> None:
            self.sent: list[list[int]] = []

        def send_message(self, message: list[int]) -> None:
            self.sent.append(message)

        def set_callback(self, callback: object) -> None: ...
        def cancel_callback(self) -> None: ...

    clock = ManualClock(0)
    port = Sink()
    with OsMidiMiniport(port, port, clock=clock, pool_size=4) as mp:
        mp.send([m.note_on(0, 1, 1)] * 4, time_100ns=50)
        with pytest.raises(PoolExhausted, match="0 of 4 events free, 4 chains held by the sequencer"):
            mp.send([m.note_on(0, 1, 1)], time_100ns=50)
        clock.set(50)
        assert mp.service() == 4
        assert port.sent == [[0x90, 1, 1]] * 4
        mp.stop()
        assert mp.books() == []


def test_not_started_refuses_to_send(board: Board) -> None:
    mp = OsMidiMiniport(object(), object())
    with pytest.raises(MiniportError, match="not started"):
        mp.send([m.start()])


@pytest.mark.parametrize("length", [4095, 4097, 16379])
def test_long_sysex_through_the_os_ports(ports: tuple[Any, Any], board: Board, length: int) -> None:
    message = m.sysex(bytes(i % 128 for i in range(length - 2)))
    with OsMidiMiniport(*ports, board=board, send_window=4) as mp:
        mp.send([message])
        (got,) = mp.receive(1, 10)
        assert got.data == message
        balanced(board, mp)


def test_jack_refuses_what_rtmidi_would_drop(ports: tuple[Any, Any], board: Board) -> None:
    from rig.miniport.rtmidi_port import JACK_MAX_MESSAGE, MessageTooLong

    with OsMidiMiniport(*ports, board=board) as mp:
        assert mp.max_message_bytes == JACK_MAX_MESSAGE
        with pytest.raises(MessageTooLong, match="16380-byte message exceeds the 16379-byte limit"):
            mp.send([m.note_on(0, 1, 1), m.sysex(bytes(JACK_MAX_MESSAGE - 1))])
        assert mp.counters.messages_sent == 0
        balanced(board, mp)
