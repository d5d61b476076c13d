"""Fixtures for the rig class driver tests: a MIDI system (a JACK dummy server when there is no other),
a loopback board as the device, and the driver bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rig.loopback import LoopbackBoard
from rig.os_midi.class_driver import UsbMidiClassDriver
from rig.os_midi.jack import JackError, JackMode
from rig.os_midi.system import MidiSystem, OsMidiUnavailable, open_midi_system
from rig.pytest_plugin.testing import missing, require_module


@pytest.fixture(scope="session")
def midi_system(pytestconfig: pytest.Config, process_midi_system: MidiSystem | None) -> MidiSystem:
    """The MIDI system every target would use here: the test process's (tests/conftest.py), else one
    opened now to say why there is none (or one started: closed at unconfigure, not at fixture
    teardown, as a rig target opened later in the session may put its ports on its server)."""
    require_module("rtmidi", "pip install python-rtmidi")
    if process_midi_system is not None:
        return process_midi_system
    try:
        system = open_midi_system(JackMode.AUTO)
    except (OsMidiUnavailable, JackError) as exc:
        missing(f"no MIDI system for virtual ports: {exc}")
    pytestconfig.add_cleanup(system.close)
    return system


@pytest.fixture
def board() -> Iterator[LoopbackBoard]:
    """A loopback board without a console pty."""
    device = LoopbackBoard(console_pty=False)
    try:
        yield device
    finally:
        device.close()


@pytest.fixture
def driver(midi_system: MidiSystem, board: LoopbackBoard) -> Iterator[UsbMidiClassDriver]:
    """The class driver bound to `board`; after the test its threads must have ended."""
    bound = UsbMidiClassDriver(board, midi_system.api, label="test board", tag="t")
    try:
        yield bound
    finally:
        bound.close()
        assert not any(t.is_alive() for t in bound.threads), "class driver threads leaked"
