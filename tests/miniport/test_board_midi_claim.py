"""rig.client.board.Board owns the MIDI streaming interface before the device sends: with OS MIDI ports bound
to a loopback board (a JACK server makes them real), SET_MIDI_MODE(SOURCE) through Board must claim the
interface first, so the generated notes reach EP_MIDI_IN instead of the OS ports; `leave_midi_to_os`
hands the interface back on purpose. Without jackd: a failure in CI (CI=true), a skip elsewhere."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rig import contract as c
from rig.client.board import Board
from rig.client.midi_io import MidiOwner
from rig.pytest_plugin.testing import close_rtmidi_port, open_rtmidi_port
from rig.targets.loopback import LoopbackTarget
from rig.targets.registry import Feature, TargetSpec

NOTE_PAIR = 8
"""Bytes of one SOURCE note on/off pair as USB-MIDI packets on EP_MIDI_IN."""


@pytest.fixture(scope="module")
def jack() -> Iterator[object]:
    """A JACK server (dummy driver), so the loopback opens OS MIDI ports on it."""
    from rig.os_midi.jack import JackMissing, JackServer
    from rig.pytest_plugin.testing import missing

    try:
        server = JackServer(timeout_s=15).start()
    except JackMissing as exc:
        missing(f"no JACK: {exc}")  # a failure in CI, a skip elsewhere
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def target(jack: object) -> Iterator[LoopbackTarget]:
    """A loopback target opened while JACK runs: its MIDI interfaces are bound to OS ports."""
    loopback = LoopbackTarget(TargetSpec.parse("loopback"))
    loopback.open()
    try:
        assert Feature.MIDI_OS in loopback.features, f"no OS MIDI ports: {loopback.midi_problem}"
        yield loopback
    finally:
        loopback.close()


@pytest.fixture
def board(target: LoopbackTarget) -> Iterator[Board]:
    """A Board client on the target, counters reset, 500 ms timeouts."""
    client = Board(target.usb_device(), timeout_ms=500)
    client.reset_stats()
    try:
        yield client
    finally:
        client.close()


def _read_exactly(board: Board, length: int) -> bytes:
    got = b""
    for _ in range(length // 4 + 1):
        if len(got) >= length:
            break
        got += board.read_midi_packets()
    return got


def test_source_mode_claims_the_interface_before_the_device_sends(board: Board) -> None:
    device = board.device
    assert device.is_kernel_driver_active(c.IF_MIDI_STREAMING), "the OS ports should hold the interface"
    board.set_midi_mode(c.MidiMode.SOURCE, rate_hz=2_000, count=3)
    assert not device.is_kernel_driver_active(c.IF_MIDI_STREAMING), "SOURCE was set with the OS bound"
    assert board.midi_owner is MidiOwner.HOST
    got = _read_exactly(board, 3 * NOTE_PAIR)
    assert got == bytes((0x09, 0x90, 0, 1, 0x08, 0x80, 0, 0, 0x09, 0x90, 1, 1, 0x08, 0x80, 1, 0,
                         0x09, 0x90, 2, 1, 0x08, 0x80, 2, 0))
    board.set_midi_mode(c.MidiMode.ECHO)
    assert board.unbalanced(drain_ms=50) == []
    board.close()
    assert device.is_kernel_driver_active(c.IF_MIDI_STREAMING), "close() must give the OS driver back"


@pytest.mark.parametrize("mode", [c.MidiMode.ECHO, c.MidiMode.TRANSFORM, c.MidiMode.SINK],
                         ids=lambda m: m.name)
def test_modes_that_only_answer_leave_the_os_driver_bound(board: Board, mode: c.MidiMode) -> None:
    board.set_midi_mode(mode)
    assert board.device.is_kernel_driver_active(c.IF_MIDI_STREAMING)
    assert board.midi_owner is MidiOwner.UNDECIDED


def test_first_raw_midi_write_claims_the_interface(board: Board) -> None:
    board.set_midi_mode(c.MidiMode.ECHO)
    board.write_midi_packets(bytes((0x09, 0x90, 60, 1)))
    assert board.midi_owner is MidiOwner.HOST
    assert board.read_midi_packets() == bytes((0x09, 0x90, 60, 1))
    assert board.unbalanced() == []


def _open_os_input(target: LoopbackTarget) -> Any:
    """A client input on the target's OS output port, connected in the graph (notes SOURCE sends next
    are routed), under a client name of its own."""
    from rig.os_midi.system import os_midi_api

    api = os_midi_api()
    assert api is not None
    _, listen_on = target.midi_port_names()
    return open_rtmidi_port(api, "in", listen_on)


def test_leave_midi_to_os_sends_source_notes_to_the_os_ports(target: LoopbackTarget, board: Board) -> None:
    board.write_midi_packets(bytes((0x09, 0x90, 60, 1)))  # raw first: the Board detached the OS driver
    assert board.read_midi_packets() == bytes((0x09, 0x90, 60, 1))
    board.leave_midi_to_os()
    assert board.midi_owner is MidiOwner.OS
    assert board.device.is_kernel_driver_active(c.IF_MIDI_STREAMING), "the OS driver was not re-attached"
    port = _open_os_input(target)
    try:
        board.set_midi_mode(c.MidiMode.SOURCE, rate_hz=2_000, count=2)
        assert board.device.is_kernel_driver_active(c.IF_MIDI_STREAMING), "SOURCE took the interface back"
        messages: list[list[int]] = []
        deadline = time.monotonic() + 5
        while len(messages) < 4 and time.monotonic() < deadline:
            event = port.get_message()
            if event is None:
                time.sleep(0.005)
            else:
                messages.append(event[0])
    finally:
        close_rtmidi_port(port)
    assert messages == [[0x90, 0, 1], [0x80, 0, 0], [0x90, 1, 1], [0x80, 1, 0]]
    board.host.midi_packets_rx += len(messages)  # the OS side read them: the host books say so
    assert board.unbalanced(drain_ms=50) == []  # and EP_MIDI_IN is left alone, not drained
    assert board.device.is_kernel_driver_active(c.IF_MIDI_STREAMING)
