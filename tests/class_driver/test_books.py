"""rig.os_midi.books: the OS MIDI path's counts stage by stage, and the first shortfall put on the stage
that made it (JACK with its xruns, the class driver, USB, the device), from fakes whose counters are
set by hand."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from host import midi as m
from rig.loopback import LoopbackBoard
from rig.os_midi import jack
from rig.os_midi.books import HostCounts, PathWatch
from rig.os_midi.class_driver import DriverCounters, UsbMidiClassDriver
from rig.os_midi.jack import JackXruns
from rig.os_midi.system import MidiSystem

from .helpers import close_ports, open_port, receive


@dataclass
class FakeBoard:
    """A device client whose MIDI packet counters the test sets."""

    rx: int = 0
    tx: int = 0
    fail: bool = False

    def stats(self) -> SimpleNamespace:
        if self.fail:
            raise OSError("gone")
        return SimpleNamespace(midi_rx_packets=self.rx, midi_tx_packets=self.tx)


@dataclass
class FakeSystem:
    """A MIDI system whose JACK server has reported `late` late cycles and `skipped` skipped clients."""

    late: int = 7
    skipped: int = 1

    def xruns(self) -> JackXruns:
        return JackXruns(self.late, self.skipped)


@dataclass
class FakeTarget:
    """A target with a class driver's counters and a JACK xrun counter."""

    driver: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(counters=DriverCounters()))
    midi_system: FakeSystem = field(default_factory=lambda: FakeSystem())


def run(target: FakeTarget, board: FakeBoard, *, sent: int, took: int, to_device: int, rx: int, tx: int,
        from_device: int, to_os: int, received: int, xruns: int = 0, skipped: int = 0) -> str:
    """Counters before (non-zero, to check deltas), then after moving the given numbers of 1-packet
    messages; the report."""
    counters = target.driver.counters
    counters.messages_from_os = counters.packets_to_device = 100
    counters.packets_from_device = counters.messages_to_os = 90
    board.rx, board.tx = 1000, 990
    watch = PathWatch(target, board)
    counters.messages_from_os += took
    counters.packets_to_device += to_device
    counters.packets_from_device += from_device
    counters.messages_to_os += to_os
    board.rx += rx
    board.tx += tx
    target.midi_system.late += xruns
    target.midi_system.skipped += skipped
    return watch.explain(HostCounts(sent, sent, received, received))


def test_everything_arrived() -> None:
    report = run(FakeTarget(), FakeBoard(), sent=50, took=50, to_device=50, rx=50, tx=50, from_device=50,
                 to_os=50, received=50)
    assert "no stage is short" in report
    assert "host received (rtmidi input): 50 messages" in report
    assert "JACK xruns since the start: 0 late cycle(s), 0 late client(s) skipped" in report


def test_a_loss_between_the_drivers_output_and_the_host_is_jacks_with_its_xruns() -> None:
    report = run(FakeTarget(), FakeBoard(), sent=50, took=50, to_device=50, rx=50, tx=50, from_device=50,
                 to_os=50, received=46, xruns=3, skipped=2)
    assert ("first shortfall: 4 messages between the driver's virtual output and the host's rtmidi input: "
            "JACK (3 late cycle(s), 2 late client(s) skipped meanwhile)") in report
    assert "device sent: 50 packets" in report


def test_a_loss_before_the_driver_is_jacks_too() -> None:
    report = run(FakeTarget(), FakeBoard(), sent=50, took=40, to_device=40, rx=40, tx=40, from_device=40,
                 to_os=40, received=40)
    assert ("first shortfall: 10 messages between the host's rtmidi output and the driver's virtual "
            "input") in report


@pytest.mark.parametrize(("counts", "where"), [
    ({"to_device": 45}, "5 packets in the class driver, before EP_MIDI_OUT"),
    ({"rx": 44}, "6 packets on EP_MIDI_OUT (USB or the device)"),
    ({"tx": 43}, "7 packets in the device (it did not answer them all)"),
    ({"from_device": 42}, "8 packets on EP_MIDI_IN (USB or the class driver)"),
    ({"to_os": 50, "received": 50, "sent": 50}, None),
])
def test_losses_inside_are_put_on_the_driver_usb_or_device(counts: dict[str, int], where: str | None) -> None:
    args = {"sent": 50, "took": 50, "to_device": 50, "rx": 50, "tx": 50, "from_device": 50, "to_os": 50,
            "received": 50, **counts}
    report = run(FakeTarget(), FakeBoard(), **args)
    assert (f"first shortfall: {where}" if where else "no stage is short") in report


def test_packets_short_with_every_message_handed_on_are_the_drivers() -> None:
    """The host got every message the driver played, but fewer packets' worth than the device sent: the
    driver lost them while decoding, before its virtual output."""
    report = run(FakeTarget(), FakeBoard(), sent=50, took=50, to_device=50, rx=50, tx=50, from_device=50,
                 to_os=47, received=47)
    assert ("first shortfall: 3 packets in the class driver, between EP_MIDI_IN and its virtual "
            "output") in report


def test_without_device_counters_the_device_stages_are_unknown_not_blamed() -> None:
    board = FakeBoard()
    target = FakeTarget()
    watch = PathWatch(target, board)
    board.fail = True
    counters = target.driver.counters
    counters.messages_from_os = counters.packets_to_device = counters.packets_from_device = 5
    counters.messages_to_os = 5
    report = watch.explain(HostCounts(5, 5, 5, 5))
    assert "device received: ? packets" in report and "no stage is short" in report


def test_a_target_without_the_class_driver_reports_host_counts_only() -> None:
    watch = PathWatch(SimpleNamespace(), None)
    report = watch.explain(HostCounts(5, 5, 3, 3))
    assert "class driver took from its virtual input: ? messages" in report
    assert "JACK xruns" not in report and "no stage is short" in report


def test_the_real_path_counts_every_stage(midi_system: MidiSystem, driver: UsbMidiClassDriver,
                                          board: LoopbackBoard) -> None:
    """Through the class driver bound to a loopback board: every stage counts the same 200 messages, and
    on a JACK server the system started its xruns are reported."""

    notes = [m.note_on(seq % 16, seq % 128, 1 + seq % 100) for seq in range(200)]
    target = SimpleNamespace(driver=driver, midi_system=midi_system)
    out = open_port(driver.api, "out", driver.input_name)
    inp = open_port(driver.api, "in", driver.output_name)
    try:
        out.send_message(list(notes[0]))  # JACK connects ports at a later cycle: wait for one answer
        assert receive(inp, 1, 5) == [list(notes[0])]
        watch = PathWatch(target, BoardStats(board))
        for start in range(0, len(notes), 50):
            for note in notes[start:start + 50]:
                out.send_message(list(note))
            assert len(receive(inp, 50)) == 50
    finally:
        close_ports(out, inp)
    report = watch.explain(HostCounts(200, 200, 200, 200))
    assert "no stage is short" in report
    for stage in ("class driver took from its virtual input: 200", "device received: 200",
                  "device sent: 200", "class driver handed to its virtual output (rtmidi): 200"):
        assert stage in report, report
    # this process started the server: the target's (when it started one) or the session's, which
    # every target of the process shares
    started = (midi_system.jack is not None and midi_system.jack.started) \
        or jack.started_server(os.environ.get(jack.ENV_SERVER)) is not None
    assert (midi_system.xruns() is not None) == started
    assert ("JACK xruns since the start" in report) == started


@dataclass
class BoardStats:
    """The loopback board's packet counters as a device client's stats() gives them."""

    board: LoopbackBoard

    def stats(self) -> SimpleNamespace:
        stats = self.board.stats()
        return SimpleNamespace(midi_rx_packets=stats["midi_rx_packets"],
                               midi_tx_packets=stats["midi_tx_packets"])


def test_a_target_that_found_this_processs_server_reports_its_xruns(midi_system: MidiSystem) -> None:
    """Targets find the test session's server running (tests/conftest.py starts it for the process);
    their books named a loss "JACK" without the server's late cycles, which this process can read
    (a flood failed so, under load, with no count to tell late from lost)."""
    if midi_system.jack is None or not midi_system.jack.started:
        pytest.skip("needs a JACK server this process started")
    found = MidiSystem(midi_system.api, midi_system.mode)  # what a target that finds it running holds
    assert found.xruns() is not None
    assert found.xruns() == midi_system.xruns()
