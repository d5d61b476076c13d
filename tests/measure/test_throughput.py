"""Throughput runners against a fake board that counts like the real one, and the ceiling maths."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from rig import contract as c
from rig.measure import throughput as tp
from rig.measure.model import (
    USB_FS_BULK_CEILING_BPS,
    ThroughputResult,
    frame_ceiling_payload_per_s,
    frame_wire_bytes,
)

from .fakes import FakeClock


@dataclass
class FakeFrame:
    payload: memoryview
    rx_time_us: int = 0
    tx_time_us: int = 0


class FakeBoard:
    """Frames and MIDI at a fixed cost per transfer on a fake clock; SOURCE queues what it would send."""

    def __init__(self, clock: FakeClock, interrupt_after: int | None = None,
                 fail_after: int | None = None) -> None:
        self.clock = clock
        self.counters = {"frames_rx": 0, "frames_tx": 0, "midi_rx_packets": 0, "midi_tx_packets": 0}
        self.modes: list[Any] = []
        self.source: list[bytes] = []
        self.midi_source = 0
        self.calls = 0
        self.interrupt_after = interrupt_after
        self.fail_after = fail_after

    def _tick(self) -> None:
        self.calls += 1
        if self.interrupt_after is not None and self.calls > self.interrupt_after:
            raise KeyboardInterrupt
        if self.fail_after is not None and self.calls > self.fail_after:
            raise ConnectionError("board E661 is gone")
        self.clock.now_ns += 1_000_000  # every transfer takes 1 ms

    def set_frame_mode(self, mode: Any, *, payload_len: int = 0, count: int = 0,
                       interval_us: int = 0) -> None:
        self.modes.append(mode)
        if mode is c.FrameMode.SOURCE:
            self.source = [bytes(payload_len)] * count

    def set_midi_mode(self, mode: Any, *, transpose: int = 0, rate_hz: int = 0, count: int = 0,
                      cable: int = 0) -> None:
        self.modes.append(mode)
        if mode is c.MidiMode.SOURCE:
            self.midi_source = 2 * count

    def stats(self) -> dict[str, int]:
        return dict(self.counters)

    def reset_stats(self) -> None:
        self.counters = dict.fromkeys(self.counters, 0)

    def send_frame(self, payload: bytes, timeout: int | None = None) -> int:
        self._tick()
        self.counters["frames_rx"] += 1
        return 0

    def receive_frame(self, timeout: int | None = None) -> FakeFrame:
        if not self.source:
            raise TimeoutError("nothing to read")
        self._tick()
        self.counters["frames_tx"] += 1
        return FakeFrame(memoryview(self.source.pop()))

    def write_midi_packets(self, data: bytes, timeout: int | None = None) -> int:
        self._tick()
        self.counters["midi_rx_packets"] += len(data) // 4
        return len(data) // 4

    def read_midi_packets(self, timeout: int | None = None) -> bytes:
        if not self.midi_source:
            raise TimeoutError("nothing to read")
        self._tick()
        n = min(16, self.midi_source)
        self.midi_source -= n
        self.counters["midi_tx_packets"] += n
        return b"\x09\x90\x01\x01" * n


def test_bulk_out_and_in_are_measured_separately_with_the_ceiling() -> None:
    clock = FakeClock()
    board = FakeBoard(clock)
    out = tp.bulk_out(board, 1024, 500, clock=clock)
    assert out.direction == "bulk-out" and out.items == 500 and out.device_count == 500 and out.lost == 0
    assert out.rate_per_s == pytest.approx(1024 * 1000, rel=1e-6)
    assert out.ceiling_per_s == frame_ceiling_payload_per_s(1024)
    assert out.series and board.modes[:2] == [c.FrameMode.SINK, c.FrameMode.ECHO]
    inn = tp.bulk_in(board, 256, 300, clock=clock)
    assert inn.direction == "bulk-in" and inn.items == 300 and inn.device_count == 300 and inn.lost == 0
    assert board.modes[-2:] == [c.FrameMode.SOURCE, c.FrameMode.ECHO]


def test_bulk_in_reports_frames_that_never_came() -> None:
    clock = FakeClock()
    board = FakeBoard(clock)
    board.set_frame_mode = lambda mode, **kw: setattr(board, "source", [bytes(64)] * 10)  # type: ignore[method-assign]
    result = tp.bulk_in(board, 64, 20, clock=clock)
    assert result.items == 10 and result.lost == 10 and "stopped after 10 frames" in result.notes[0]


def test_midi_events_each_way() -> None:
    clock = FakeClock()
    board = FakeBoard(clock)
    out = tp.midi_out(board, 1000, clock=clock)
    assert out.items == 1000 and out.device_count == 1000
    assert out.rate_per_s == pytest.approx(16_000, rel=0.01)
    inn = tp.midi_in(board, 1000, 5000, clock=clock)
    assert inn.items == 1000 and inn.lost == 0 and inn.unit == "events"


def test_ctrl_c_keeps_the_partial_result() -> None:
    clock = FakeClock()
    board = FakeBoard(clock, interrupt_after=100)
    with pytest.raises(KeyboardInterrupt) as info:
        tp.bulk_out(board, 512, 1000, clock=clock)
    assert isinstance(info.value, tp.Interrupted)
    assert info.value.result.items == 100 and "interrupted" in info.value.result.notes[0]


@pytest.mark.parametrize("direction", ["out", "in", "midi-out", "midi-in"])
def test_a_device_fault_keeps_the_partial_result(direction: str) -> None:
    """The board goes away after 100 transfers: the direction stops with Failed carrying what was
    measured and the error; no device count is asked of the gone board."""
    clock = FakeClock()
    board = FakeBoard(clock, fail_after=100)
    run: Callable[[], ThroughputResult] = {"out": lambda: tp.bulk_out(board, 512, 1000, clock=clock),
           "in": lambda: tp.bulk_in(board, 512, 1000, clock=clock),
           "midi-out": lambda: tp.midi_out(board, 10_000, clock=clock),
           "midi-in": lambda: tp.midi_in(board, 10_000, 5000, clock=clock)}[direction]
    with pytest.raises(tp.Failed) as info:
        run()
    result = info.value.result
    assert result.items == (100 if direction in ("out", "in") else 1600)
    assert result.device_count is None and result.elapsed_s > 0
    assert "ConnectionError: board E661 is gone" in info.value.error
    assert any("stopped by an error" in n for n in result.notes)


def test_ceiling_maths() -> None:
    assert USB_FS_BULK_CEILING_BPS == 1_216_000
    assert frame_wire_bytes(24) == 128  # 40-byte header + 24 = 64 bytes: one packet and a ZLP slot
    assert frame_wire_bytes(25) == 128
    assert frame_wire_bytes(87) == 128 and frame_wire_bytes(88) == 192
    assert frame_ceiling_payload_per_s(1024) == pytest.approx(19_000 / 17 * 1024)
    with pytest.raises(tp.ThroughputError, match="payload_len"):
        tp.bulk_out(FakeBoard(FakeClock()), 4, 10)
