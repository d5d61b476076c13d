"""The USB-MIDI miniport (driver mode) against the loopback board: the MXF render graph to
EP_MIDI_OUT, the capture graph from EP_MIDI_IN, time stamps from the injected clock, batching, and the
error paths (NAKed writes, garbage packets, a vanished device, an empty pool), books checked."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from host import midi as m
from host.mxf.clock import ManualClock
from host.mxf.dmusbuff import iter_records
from rig import contract as c
from rig.client.board import Board
from rig.loopback import LoopbackBoard
from rig.miniport import DeviceGarbage, MiniportError, MiniportTimeout, PoolExhausted
from rig.miniport.usb_midi import UsbMidiMiniport

EVERY_KIND = [
    m.note_off(0, 60, 64), m.note_on(1, 61, 100), m.poly_pressure(2, 62, 5), m.control_change(3, 7, 99),
    m.program_change(4, 12), m.channel_pressure(5, 33), m.pitch_bend(15, -8192), m.pitch_bend(6, 8191),
    m.mtc_quarter_frame(3, 9), m.song_position(1000), m.song_select(5), m.tune_request(), m.timing_clock(),
    m.start(), m.continue_(), m.stop(), m.active_sensing(), m.system_reset(), m.sysex(b"\x7e\x00\x06\x01"),
]


@pytest.fixture
def echo(board: Board) -> Board:
    board.set_midi_mode(c.MidiMode.ECHO)
    return board


def balanced(board: Board, miniport: UsbMidiMiniport) -> None:
    miniport.stop()
    assert miniport.books() == []
    assert board.unbalanced() == []


def test_every_kind_of_message_round_trips(echo: Board) -> None:
    with UsbMidiMiniport(echo) as mp:
        mp.send(EVERY_KIND)
        got = mp.receive(len(EVERY_KIND), 5)
        assert [g.data for g in got] == EVERY_KIND
        assert all(g.channel_group == 1 for g in got)
        assert mp.writer.counters.packets_written == echo.host.midi_packets_tx
        balanced(echo, mp)


def test_packets_are_batched_into_whole_usb_packets(echo: Board, link: Any) -> None:
    notes = [m.note_on(0, n, 1) for n in range(40)]
    with UsbMidiMiniport(echo) as mp:
        before = link.writes.get(c.EP_MIDI_OUT, 0)
        mp.send(notes)
        assert link.writes[c.EP_MIDI_OUT] - before == 3  # 40 packets: 16 + 16 + 8
        assert mp.writer.counters.transfers == 3
        assert [g.data for g in mp.receive(40, 5)] == notes
        balanced(echo, mp)


def test_running_status_and_real_time_inside_messages(echo: Board) -> None:
    stream = [b"\x90\x3c\x40", b"\x3e\x41", b"\x40\x42", b"\x90\x43\xf8\x44", b"\xb0\x07\xfe\x50"]
    expected = [b"\x90\x3c\x40", b"\x90\x3e\x41", b"\x90\x40\x42", b"\xf8", b"\x90\x43\x44", b"\xfe",
                b"\xb0\x07\x50"]
    with UsbMidiMiniport(echo) as mp:
        mp.send(stream)
        assert [g.data for g in mp.receive(len(expected), 5)] == expected
        balanced(echo, mp)


def test_real_time_inside_sysex_comes_out_separately(echo: Board) -> None:
    with UsbMidiMiniport(echo) as mp:
        mp.send([b"\xf0\x01\x02\xf8\x03\x04\xfa\x05\xf7"])
        assert [g.data for g in mp.receive(3, 5)] == [b"\xf8", b"\xfa", b"\xf0\x01\x02\x03\x04\x05\xf7"]
        balanced(echo, mp)


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 8, 64, 4093, 4094, 4095, 4096, 4097, 65536])
def test_sysex_lengths(echo: Board, length: int) -> None:
    body = bytes(i % 128 for i in range(length))
    message = m.sysex(body)
    with UsbMidiMiniport(echo) as mp:
        mp.send([message])
        (got,) = mp.receive(1, 10)
        assert got.data == message
        balanced(echo, mp)


def test_time_stamps_come_from_the_injected_clock(echo: Board) -> None:
    clock = ManualClock(5_000_000)
    with UsbMidiMiniport(echo, clock=clock) as mp:
        mp.send([m.note_on(0, 1, 2)])
        (got,) = mp.receive(1, 5)
        assert got.time_100ns == 5_000_000
        balanced(echo, mp)


def test_sequencer_holds_future_events_until_due(echo: Board) -> None:
    clock = ManualClock(0)
    with UsbMidiMiniport(echo, clock=clock) as mp:
        mp.send([m.note_on(0, 70, 1)], time_100ns=20_000)
        mp.send([m.note_on(0, 60, 1)], time_100ns=10_000)
        assert len(mp.sequencer) == 2 and echo.stats().midi_rx_packets == 0
        clock.set(10_000)
        assert mp.service() == 1
        clock.set(20_000)
        assert mp.service() == 1
        assert [g.data for g in mp.receive(2, 5)] == [m.note_on(0, 60, 1), m.note_on(0, 70, 1)]
        balanced(echo, mp)


def test_stop_discards_what_the_sequencer_holds(echo: Board) -> None:
    clock = ManualClock(0)
    mp = UsbMidiMiniport(echo, clock=clock)
    mp.start()
    mp.send([m.note_on(0, 1, 1)] * 5, time_100ns=1_000_000)
    assert mp.render_allocator.stats().outstanding == 5
    mp.stop()
    assert mp.sequencer.discarded == 5
    assert mp.books() == []
    assert echo.unbalanced() == []


def test_write_timeout_names_board_and_endpoint_and_keeps_the_packets(echo: Board, link: Any) -> None:
    with UsbMidiMiniport(echo) as mp:
        link.write_timeouts.add(c.EP_MIDI_OUT)
        notes = [m.note_on(0, n, 9) for n in range(20)]
        with pytest.raises(MiniportTimeout) as info:
            mp.send(notes)
        text = str(info.value)
        assert echo.name in text and "EP_MIDI_OUT 0x01" in text and "20 packet(s) still pending" in text
        assert isinstance(info.value, TimeoutError)
        assert mp.writer.pending_packets == 20 and mp.writer.counters.timeouts == 1
        assert mp.render_allocator.stats().outstanding == 0  # the events went back; the packets wait
        assert any("not yet written" in p for p in mp.books())
        link.write_timeouts.clear()
        assert mp.flush() == 20
        assert [g.data for g in mp.receive(20, 5)] == notes
        balanced(echo, mp)


def test_full_device_queue_backpressures_without_loss(echo: Board) -> None:
    notes = [m.note_on(n % 16, n & 0x7F, 1 + n % 100) for n in range(2000)]
    with UsbMidiMiniport(echo) as mp:
        mp.send(notes)
        assert [g.data for g in mp.receive(len(notes), 20)] == notes
        balanced(echo, mp)


def _garbage_cable(data: bytes) -> bytes:
    return bytes([0x50 | (data[0] & 0x0F)]) + data[1:]


def _reserved_cin(data: bytes) -> bytes:
    return b"\x01\x11\x22\x33" + data


def _odd_length(data: bytes) -> bytes:
    return data + b"\x09"


@pytest.mark.parametrize(("rewrite", "problem"), [
    (_garbage_cable, "cable 5"),
    (_reserved_cin, "CIN 0x1"),
    (_odd_length, "not a whole number of packets"),
])
def test_garbage_from_the_device_is_reported(echo: Board, link: Any, rewrite: Any, problem: str) -> None:
    with UsbMidiMiniport(echo) as mp:
        link.read_rewrites[c.EP_MIDI_IN] = rewrite
        mp.send([m.note_on(0, 60, 1)])
        with pytest.raises(DeviceGarbage, match=problem) as info:
            mp.receive(1, 5)
        assert echo.name in str(info.value) and "EP_MIDI_IN 0x81" in str(info.value)
        assert isinstance(info.value, ValueError)
        assert mp.reader_counters.garbage >= 1
        link.read_rewrites.clear()
        mp.stop()
        mp.take()
        assert mp.books() == []


def test_device_that_vanishes_stops_capture_with_an_error(echo: Board, loopback: LoopbackBoard) -> None:
    mp = UsbMidiMiniport(echo, poll_ms=10)
    mp.start()
    loopback.close()
    with pytest.raises(MiniportError, match="capture stopped"):
        mp.receive(1, 5)
    with pytest.raises(MiniportError, match="EP_MIDI_OUT"):
        mp.send([m.note_on(0, 1, 1)])
    mp.stop()
    assert mp.writer.discard() == 1
    assert mp.books() == []


def test_silence_is_a_receive_timeout(echo: Board) -> None:
    with UsbMidiMiniport(echo) as mp:
        with pytest.raises(MiniportTimeout, match="0 of 1 message"):
            mp.receive(1, 0.05)
        balanced(echo, mp)


def test_render_pool_too_small_for_the_schedule(echo: Board) -> None:
    clock = ManualClock(0)
    with UsbMidiMiniport(echo, clock=clock, pool_size=8) as mp:
        mp.send([m.note_on(0, 1, 1)] * 8, time_100ns=100)
        with pytest.raises(PoolExhausted, match="0 of 8 events free, 8 chains held by the sequencer"):
            mp.send([m.note_on(0, 2, 1)], time_100ns=100)
        clock.set(100)
        assert mp.service() == 8
        assert len(mp.receive(8, 5)) == 8
        balanced(echo, mp)


def test_checked_allocators_and_packer_capture(echo: Board) -> None:
    with UsbMidiMiniport(echo, checked=True, capture_to="packer", clock=ManualClock(7)) as mp:
        mp.send(EVERY_KIND)
        records: list[bytes] = []
        for _ in range(500):
            buffer = mp.read_buffer(1 << 16)
            if buffer is not None:
                records += [r.data for r in iter_records(buffer)]
            if len(records) >= len(EVERY_KIND):
                break
            threading.Event().wait(0.01)
        assert records == EVERY_KIND
        with pytest.raises(MiniportError, match="use read_buffer"):
            mp.receive(1)
        balanced(echo, mp)


def test_reader_thread_stops(echo: Board) -> None:
    mp = UsbMidiMiniport(echo)
    mp.start()
    thread = mp._thread
    assert thread is not None and thread.is_alive()
    mp.close()
    assert not thread.is_alive()
    with pytest.raises(MiniportError, match="not started"):
        mp.send([m.note_on(0, 1, 1)])


def test_a_failing_capture_graph_is_reported_not_silent(echo: Board, monkeypatch: pytest.MonkeyPatch) -> None:
    mp = UsbMidiMiniport(echo)
    mp.start()

    def broken(evt: object) -> object:
        raise RuntimeError("capture graph bug")

    monkeypatch.setattr(mp.capture_sink, "put_message", broken)
    mp.send([m.note_on(0, 1, 1)])
    with pytest.raises(MiniportError, match="capture reader failed: RuntimeError"):
        mp.receive(1, 5)
    mp.stop()
    # The broken filter swallowed the one event it was handed: the books show it, and where it was taken.
    leaks = mp.capture_allocator.leaks()
    assert [leak.kind for leak in leaks] == ["event"] and "raw_capture_chain" in leaks[0].taken_at
    mp.capture_allocator.put_message(leaks[0].obj)  # type: ignore[arg-type]


def test_the_miniport_tests_run_the_allocators_checked(echo: Board) -> None:
    """The autouse fixture in conftest.py makes allocators built inside a miniport checked."""
    with UsbMidiMiniport(echo) as mp:
        assert mp.render_allocator.is_checked and mp.capture_allocator.is_checked
